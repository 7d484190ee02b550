"""A JSON-lines (or CEF / syslog lines) file sink: append-only, one line per entry, fsynced per batch."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from shieldstorm.audit.sinks.base import Entry, SinkError
from shieldstorm.audit.sinks.formatters import Formatter, format_jsonl


class FileSink:
    def __init__(self, path: Path | str, *, formatter: Formatter = format_jsonl, fsync: bool = True) -> None:
        self.path = Path(path)
        self.formatter = formatter
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, lines: list[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        try:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SinkError(f"cannot open audit sink file {self.path}: {exc.strerror}") from exc
        try:
            # O_APPEND + one write per batch: concurrent writers never interleave inside a line.
            os.write(descriptor, data)
            if self.fsync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)

    async def emit(self, entries: Sequence[Entry]) -> None:
        if entries:
            lines = [self.formatter(entry.event, entry.index) for entry in entries]
            await asyncio.to_thread(self._write, lines)

    async def aclose(self) -> None:
        return None


def JsonLinesSink(path: Path | str, *, fsync: bool = True) -> FileSink:
    """A FileSink writing canonical JSON lines."""
    return FileSink(path, formatter=format_jsonl, fsync=fsync)
