"""Every decision goes to the tamper-evident audit log, off the request's critical path.

`AuditLog.append_many_async` resolves once the events are durable (or spooled when the database is down, which
the log handles itself). Decisions recorded during one event-loop iteration are handed to the log as one batch
(one hand-off to its writer thread and one wake-up back, instead of one per request; the writer groups them into
one commit anyway). By default the Shield does not wait for durability before answering (`audit.wait: false`);
with `audit.wait: true` a request answers only once its batch is durable. Pending events are bounded, and past the
bound requests wait for their batch (back-pressure) instead of dropping events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shieldstorm.shield.config import AuditConfig
from shieldstorm.shield.metrics import ShieldMetrics

logger = logging.getLogger(__name__)
MAX_PENDING = 10_000


class _Batch:
    __slots__ = ("done", "events")

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class AuditSink:
    def __init__(self, config: AuditConfig, metrics: ShieldMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.log: Any = None
        self.error: str | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._pending_events = 0
        self._batch: _Batch | None = None

    async def open(self) -> None:
        if not self.config.enabled:
            return
        from shieldstorm.audit.log import AuditLog

        try:
            self.log = await asyncio.to_thread(AuditLog.open, self.config.url)
        except Exception as exc:  # the Shield still serves; /readyz and the admin API show the reason
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("audit log unavailable: %s", self.error)

    async def _write(self, batch: _Batch) -> None:
        try:
            await self.log.append_many_async(batch.events)
        except Exception as exc:
            self.metrics.audit_failures.inc(len(batch.events))
            logger.error("audit append failed: %s", type(exc).__name__)
        finally:
            self._pending_events -= len(batch.events)
            batch.done.set_result(None)

    def _flush(self) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            return
        task = asyncio.create_task(self._write(batch))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def record(self, summary: dict[str, Any], *, mode: str, method: str, path: str, client_ip: str) -> None:
        if self.log is None:
            if self.config.enabled:
                self.metrics.audit_failures.inc()
            return
        from shieldstorm.audit.events import AuditEvent

        data = {k: v for k, v in summary.items() if k not in ("tenant", "correlation_id", "principal", "time")}
        data.update(mode=mode, method=method, path=path.split("?", 1)[0][:512], client_ip=client_ip)
        event = AuditEvent(event_type="shield.decision", actor=str(summary.get("principal") or "anonymous")[:256],
                           tenant=summary.get("tenant"), correlation_id=summary.get("correlation_id"), data=data)
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            asyncio.get_running_loop().call_soon(self._flush)  # after this iteration's other requests
        batch.events.append(event)
        self._pending_events += 1
        if self.config.wait or self._pending_events > MAX_PENDING:
            await asyncio.shield(batch.done)  # durable (or counted as failed) before the request answers

    async def close(self) -> None:
        self._flush()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
