"""A real PostgreSQL server stopped and restarted in the middle of traffic: events spool locally while it is down
and are replayed in order afterwards, each exactly once. Runs in CI (SHIELDSTORM_REQUIRE_SERVICES=1 turns a missing
PostgreSQL into a failure, not a skip)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldstorm.audit.events import AuditEvent
from shieldstorm.audit.log import SPOOLED, AuditLog
from tests.services import ThrowawayPostgres, unavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_postgres() -> Iterator[tuple[ThrowawayPostgres, str]]:
    """A private server this test may stop and restart (the shared session server must stay up)."""
    server = ThrowawayPostgres()
    try:
        url = server.start()
    except Exception as exc:
        server.stop()
        unavailable(f"cannot start a throwaway PostgreSQL: {exc}")
        return
    try:
        yield server, url
    finally:
        server.stop()


class Producer(threading.Thread):
    """Appends `name-00000`, `name-00001`, ... one at a time (each append waits until durable) until stopped."""

    def __init__(self, log: AuditLog, name: str) -> None:
        super().__init__(name=f"producer-{name}", daemon=True)
        self.log, self.prefix = log, name
        self.results: list[int] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                number = len(self.results)
                event = AuditEvent(
                    event_type="shield.decision", actor=self.prefix, data={"n": number},
                    event_id=f"{self.prefix}-{number:05d}",
                )
                self.results.append(self.log.append(event))
                time.sleep(0.001)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.error is None, self.error
        assert len(self.results) >= count, f"{self.prefix} produced only {len(self.results)} events"


def test_events_spool_while_postgres_is_down_and_replay_in_order_exactly_once(
    own_postgres: tuple[ThrowawayPostgres, str], tmp_path: Path
) -> None:
    server, url = own_postgres
    log = AuditLog.open(
        url, data_dir=tmp_path / "state", checkpoint_interval=None, retry_interval=0.1, batch_delay=0.001
    )
    producers = [Producer(log, "alpha"), Producer(log, "beta")]
    try:
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.wait_for(150)
        committed_before = sum(1 for p in producers for r in p.results if r != SPOOLED)
        assert committed_before >= 300

        server.halt()  # fast shutdown in the middle of traffic
        marks = [len(p.results) for p in producers]
        for producer, mark in zip(producers, marks, strict=True):
            producer.wait_for(mark + 100)  # appends keep being acknowledged: durable in the local spool
        assert log.spooled > 0
        spooled = [r for p in producers for r in p.results[marks[producers.index(p)] + 5 :] if r == SPOOLED]
        assert len(spooled) >= 150, "appends during the outage must be acknowledged as spooled"

        server.resume()
        marks = [len(p.results) for p in producers]
        for producer, mark in zip(producers, marks, strict=True):
            producer.wait_for(mark + 100)  # traffic continues while the spool drains
        for producer in producers:
            producer.stopping.set()
            producer.join(30)
            assert producer.error is None, producer.error
        assert log.flush_spool(timeout=60), f"spool not replayed ({log.spooled} left)"

        stored = [entry.event.event_id for entry in log.entries()]
        produced = {p.prefix: [f"{p.prefix}-{n:05d}" for n in range(len(p.results))] for p in producers}
        assert len(stored) == len(set(stored)), "an event was stored twice"
        assert sorted(stored) == sorted(produced["alpha"] + produced["beta"]), "an event was lost"
        for prefix, expected in produced.items():
            assert [event_id for event_id in stored if event_id.startswith(prefix)] == expected, f"{prefix} order"
        # acknowledged indices (not spooled) are where the events really are
        index_of = {event_id: index for index, event_id in enumerate(stored)}
        for producer in producers:
            for number, result in enumerate(producer.results):
                if result != SPOOLED:
                    assert index_of[f"{producer.prefix}-{number:05d}"] == result
        report = log.verify()
        assert report.ok, report.problems
        assert report.tree_size == len(stored)
    finally:
        for producer in producers:
            producer.stopping.set()
        log.close()
