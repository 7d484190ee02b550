"""HTTP webhook sink (aiohttp): generic JSON batches or Splunk HTTP Event Collector (HEC) format.

- mode "json": POST `{"events": [{"index": n, "event": {...}}, ...]}`, `Authorization: Bearer <token>` if a token
  is set.
- mode "splunk_hec": POST to the collector URL (e.g. `https://splunk:8088/services/collector/event`) the HEC batch
  format — JSON event objects one after another — `{"time": <epoch seconds>, "host": ..., "source": "shieldstorm",
  "sourcetype": "shieldstorm:audit", "index": <optional>, "event": {"index": n, "event": {...}}}` with
  `Authorization: Splunk <token>`.

Every batch carries `Idempotency-Key` (SHA-256 over its event ids) so a receiver can drop a batch re-sent after a
lost acknowledgement. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and full
jitter (429/503 `Retry-After` is honoured, capped by the policy's max delay); other 4xx fail at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import socket
from collections.abc import Sequence
from typing import Any, Literal

import aiohttp

from shieldstorm.audit.sinks.base import Entry, RetryableError, RetryPolicy, SinkError
from shieldstorm.audit.sinks.formatters import record
from shieldstorm.errors import ConfigError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class WebhookSink:
    def __init__(
        self,
        url: str,
        *,
        mode: Literal["json", "splunk_hec"] = "json",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        batch_size: int = 500,
        splunk_index: str | None = None,
        source: str = "shieldstorm",
        sourcetype: str = "shieldstorm:audit",
        host: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook url must be http(s), got {url[:60]!r}")
        if mode not in ("json", "splunk_hec"):
            raise ConfigError(f"webhook mode must be 'json' or 'splunk_hec', got {mode!r}")
        if mode == "splunk_hec" and not token:
            raise ConfigError("splunk_hec mode needs the HEC token")
        self.url = url
        self.mode = mode
        self.retry = retry or RetryPolicy()
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.batch_size = batch_size
        self.splunk_index, self.source, self.sourcetype = splunk_index, source, sourcetype
        self.host = host or socket.gethostname()
        self._headers = {"User-Agent": "shieldstorm-audit-sink", **(headers or {})}
        if token:  # kept only in the header dict; never logged or put in error messages
            scheme = "Splunk" if mode == "splunk_hec" else "Bearer"
            self._headers["Authorization"] = f"{scheme} {token}"
        self._session: aiohttp.ClientSession | None = None
        self.requests_sent = 0  # attempts, including retries (for metrics and tests)

    def _body(self, entries: Sequence[Entry]) -> tuple[bytes, str]:
        if self.mode == "json":
            payload = {"events": [record(entry.event, entry.index) for entry in entries]}
            return json.dumps(payload, separators=(",", ":")).encode(), "application/json"
        parts = []
        for entry in entries:
            item: dict[str, Any] = {
                "time": round(entry.event.timestamp.timestamp(), 6),
                "host": self.host,
                "source": self.source,
                "sourcetype": self.sourcetype,
                "event": record(entry.event, entry.index),
            }
            if self.splunk_index:
                item["index"] = self.splunk_index
            parts.append(json.dumps(item, separators=(",", ":")))
        return "\n".join(parts).encode(), "application/json"

    async def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _post(self, body: bytes, headers: dict[str, str]) -> None:
        session = await self._session_get()
        self.requests_sent += 1
        try:
            async with session.post(self.url, data=body, headers=headers) as response:
                text = (await response.text())[:200]
                if response.status < 300:
                    if self.mode == "splunk_hec":
                        self._check_hec_ack(text)
                    return
                if response.status in RETRYABLE_STATUS:
                    raise RetryableError(
                        f"HTTP {response.status}", retry_after=_retry_after(response.headers.get("Retry-After"))
                    )
                raise SinkError(f"webhook {self.url} refused the batch: HTTP {response.status} {text!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _check_hec_ack(text: str) -> None:
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("code", 0) not in (0, None):
            raise SinkError(f"Splunk HEC rejected the batch: {answer.get('text')!r} (code {answer.get('code')})")

    async def emit(self, entries: Sequence[Entry]) -> None:
        for start in range(0, len(entries), self.batch_size):
            batch = entries[start : start + self.batch_size]
            body, content_type = self._body(batch)
            digest = hashlib.sha256("\n".join(e.event.event_id for e in batch).encode()).hexdigest()
            headers = {**self._headers, "Content-Type": content_type, "Idempotency-Key": digest}
            await self.retry.run(functools.partial(self._post, body, headers), what=f"webhook {self.url}")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
