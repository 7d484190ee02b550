"""The sink contract and the retry policy shared by network sinks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from shieldstorm.audit.events import AuditEvent
from shieldstorm.errors import ServiceUnavailableError

T = TypeVar("T")


class Entry(Protocol):
    """What a sink ships: an event and its leaf index (audit.log.LogEntry fits; index None = not in the tree)."""

    @property
    def index(self) -> int | None: ...

    @property
    def event(self) -> AuditEvent: ...


@dataclass(frozen=True)
class SinkEntry:
    index: int | None
    event: AuditEvent


class SinkError(ServiceUnavailableError):
    """A sink gave up: the receiver refused the batch or stayed unreachable through every retry."""


class Sink(Protocol):
    async def emit(self, entries: Sequence[Entry]) -> None:
        """Ship the entries in order; return once the receiver acknowledged them all (else raise SinkError)."""

    async def aclose(self) -> None: ...


class RetryableError(Exception):
    """Raised inside a retried operation for a transient failure; `retry_after` (seconds) is a server hint."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog): delay n is uniform in
    [0, min(max_delay, base_delay * 2**n)]. Full jitter spreads retries of many senders after a shared outage."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    seed: int | None = None  # fixes the jitter sequence (tests, reproducible runs)

    def delays(self) -> Iterator[float]:
        """The sleep before retry 1, 2, ... (max_attempts - 1 values)."""
        rng = random.Random(self.seed)
        for attempt in range(self.max_attempts - 1):
            yield rng.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))

    async def run(self, operation: Callable[[], Awaitable[T]], *, what: str) -> T:
        """Call `operation` until it succeeds; retry on RetryableError; SinkError when attempts run out."""
        delays = self.delays()
        last: RetryableError | None = None
        for _ in range(self.max_attempts):
            try:
                return await operation()
            except RetryableError as exc:
                last = exc
            delay = next(delays, None)
            if delay is None:
                break
            if last.retry_after is not None:
                delay = max(delay, min(last.retry_after, self.max_delay))
            await asyncio.sleep(delay)
        raise SinkError(f"{what}: gave up after {self.max_attempts} attempts: {last}")
