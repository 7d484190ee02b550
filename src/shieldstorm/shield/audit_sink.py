"""Every decision goes to the tamper-evident audit log, off the request's critical path.

`AuditLog.append_async` resolves once the event is durable (or spooled when the database is down, which the log
handles itself). By default the Shield does not wait for that before answering (`audit.wait: false`); pending
appends are bounded, and past the bound requests wait (back-pressure) instead of dropping events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shieldstorm.shield.config import AuditConfig
from shieldstorm.shield.metrics import ShieldMetrics

logger = logging.getLogger(__name__)
MAX_PENDING = 10_000


class AuditSink:
    def __init__(self, config: AuditConfig, metrics: ShieldMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.log: Any = None
        self.error: str | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        if not self.config.enabled:
            return
        from shieldstorm.audit.log import AuditLog

        try:
            self.log = await asyncio.to_thread(AuditLog.open, self.config.url)
        except Exception as exc:  # the Shield still serves; /readyz and the admin API show the reason
            self.error = f"{type(exc).__name__}: {exc}"
            logger.error("audit log unavailable: %s", self.error)

    async def _append(self, event: Any) -> None:
        try:
            await self.log.append_async(event)
        except Exception as exc:
            self.metrics.audit_failures.inc()
            logger.error("audit append failed: %s", type(exc).__name__)

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
        if self.config.wait or len(self._pending) >= MAX_PENDING:
            await self._append(event)
            return
        task = asyncio.create_task(self._append(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
