"""Send RFC 5424 syslog messages over UDP (RFC 5426, one message per datagram) or TCP (RFC 6587 octet counting)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from typing import Literal

from shieldstorm.audit.sinks.base import Entry, RetryableError, RetryPolicy
from shieldstorm.audit.sinks.formatters import Formatter, SyslogFormatter

MAX_UDP_MESSAGE = 65_000  # one datagram; longer messages are truncated (RFC 5426 allows it)


class SyslogSink:
    def __init__(
        self,
        host: str,
        port: int = 514,
        *,
        protocol: Literal["udp", "tcp"] = "udp",
        formatter: Formatter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.protocol = host, port, protocol
        self.formatter: Formatter = formatter or SyslogFormatter()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._udp: socket.socket | None = None

    async def emit(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        messages = [self.formatter(entry.event, entry.index).encode("utf-8") for entry in entries]
        if self.protocol == "udp":
            self._send_udp(messages)
            return
        framed = b"".join(str(len(message)).encode() + b" " + message for message in messages)
        await self.retry.run(lambda: self._send_tcp(framed), what=f"syslog tcp://{self.host}:{self.port}")

    def _send_udp(self, messages: list[bytes]) -> None:
        if self._udp is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._udp = socket.socket(family, socket.SOCK_DGRAM)
        for message in messages:
            self._udp.sendto(message[:MAX_UDP_MESSAGE], (self.host, self.port))

    async def _send_tcp(self, framed: bytes) -> None:
        try:
            writer: asyncio.StreamWriter
            if self._writer is None or self._writer.is_closing():
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout=self.timeout)
                self._writer = writer
            else:
                writer = self._writer
            writer.write(framed)
            await asyncio.wait_for(writer.drain(), timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            await self._drop_connection()
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

    async def _drop_connection(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def aclose(self) -> None:
        await self._drop_connection()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
