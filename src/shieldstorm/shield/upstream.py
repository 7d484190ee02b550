"""Upstream calls: one pooled aiohttp session per Shield, streaming bodies, timeouts and a circuit breaker.

The breaker opens after `failure_threshold` consecutive failures (connection errors, timeouts, 5xx) and refuses
calls for `reset_seconds`; then one trial call is let through (half-open): success closes it, failure re-opens.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import aiohttp

from shieldstorm.errors import ConfigError
from shieldstorm.shield.config import UpstreamConfig, env_secret

# Hop-by-hop headers (RFC 9110 §7.6.1) and ones aiohttp/uvicorn set themselves.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})


class CircuitOpen(Exception):
    pass


class CircuitBreaker:
    def __init__(self, threshold: int, reset_seconds: float) -> None:
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.reset_seconds else "open"

    def before_call(self) -> None:
        state = self.state
        if state == "open" or (state == "half_open" and self._trial_in_flight):
            raise CircuitOpen
        if state == "half_open":
            self._trial_in_flight = True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def failure(self) -> None:
        self.failures += 1
        self._trial_in_flight = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()


def client_ssl_context(config: UpstreamConfig) -> ssl.SSLContext | None:
    if config.ca_file is None and config.client_cert is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if config.client_cert is not None:
            context.load_cert_chain(str(config.client_cert), str(config.client_key) if config.client_key else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"upstream TLS: {exc}") from exc
    return context


class Upstream:
    def __init__(self, config: UpstreamConfig) -> None:
        self.config = config
        self.base = (config.url or "").rstrip("/")
        self.breaker = CircuitBreaker(config.failure_threshold, config.reset_seconds)
        self.ssl = client_ssl_context(config)
        self._session: aiohttp.ClientSession | None = None
        self.extra_headers = {name: value for name, env in config.headers_env.items()
                              if (value := env_secret(env)) is not None}
        self.timeout = aiohttp.ClientTimeout(total=config.total_timeout, sock_connect=config.connect_timeout,
                                             sock_read=config.read_timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.config.max_connections, ssl=self.ssl or True,
                                             ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, auto_decompress=False,
                                                  skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return self._session

    async def request(self, method: str, path_qs: str, headers: dict[str, str], body: bytes) -> Any:
        """Returns the aiohttp response (unread: stream it). Raises CircuitOpen / aiohttp errors / TimeoutError."""
        self.breaker.before_call()
        try:
            response = await self.session.request(method, self.base + path_qs, headers=headers, data=body or None,
                                                  allow_redirects=False)
        except BaseException:
            self.breaker.failure()
            raise
        if response.status >= 500:
            self.breaker.failure()
        else:
            self.breaker.success()
        return response

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def upstream_headers(client_headers: list[tuple[bytes, bytes]], *, peer: str, proto: str,
                     strip_authorization: bool, extra: dict[str, str], correlation_id: str,
                     content_length: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    forwarded_for = None
    for raw_name, raw_value in client_headers:
        name = raw_name.decode("latin-1").lower()
        if name in HOP_BY_HOP or (strip_authorization and name in ("authorization", "x-api-key")):
            continue
        if name == "x-forwarded-for":
            forwarded_for = raw_value.decode("latin-1")
            continue
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    # Append the hop we saw (the connected peer), as every proxy in a chain does.
    headers["x-forwarded-for"] = f"{forwarded_for}, {peer}" if forwarded_for else peer
    headers["x-forwarded-proto"] = proto
    headers["x-correlation-id"] = correlation_id
    if content_length:
        headers["content-length"] = str(content_length)
    headers.update(extra)
    return headers
