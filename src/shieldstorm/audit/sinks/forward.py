"""Ship a log's entries to a sink from a position, in order (e.g. to back-fill a SIEM after an outage)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shieldstorm.audit.sinks.base import Sink

if TYPE_CHECKING:
    from shieldstorm.audit.log import AuditLog, LogEntry


async def forward(log: AuditLog, sink: Sink, *, start: int = 0, stop: int | None = None, batch: int = 500) -> int:
    """Emit entries [start, stop) in batches; returns the next index to ship (persist it as the cursor)."""

    def read(begin: int) -> list[LogEntry]:
        end = begin + batch if stop is None else min(stop, begin + batch)
        return list(log.entries(begin, end))

    position = start
    while stop is None or position < stop:
        entries = await asyncio.to_thread(read, position)
        if not entries:
            break
        await sink.emit(entries)
        position = entries[-1].index + 1
    return position
