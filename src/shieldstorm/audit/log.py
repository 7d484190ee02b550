"""AuditLog: the public API. Group-committed durable appends (sync and asyncio), proofs, checkpoints, verification.

One writer thread owns appends. Callers enqueue an event with a future; the writer collects a batch (up to
`batch_size` events or `batch_delay` seconds after the first), appends it in ONE transaction and resolves the
futures only after COMMIT returned. If the database is unreachable the batch goes to the durable local spool
instead and the futures resolve to SPOOLED (-1): durable, but not yet in the tree. While the spool holds events,
new events queue behind them, so order is kept; the writer replays the spool as soon as the database answers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shieldstorm.audit import schema, storage
from shieldstorm.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier
from shieldstorm.audit.events import AuditEvent
from shieldstorm.audit.merkle import ProofError, consistency_ranges, inclusion_ranges
from shieldstorm.audit.spool import Spool
from shieldstorm.audit.storage import PendingEntry, TreeWriter
from shieldstorm.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

SPOOLED = -1  # append() result: durable in the local spool, index assigned when replayed
DEFAULT_ORIGIN = "shieldstorm.local/audit"
_STOP = object()


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    path: list[bytes]
    root: bytes

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.index,
            "tree_size": self.size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [p.hex() for p in self.path],
            "root_hash": self.root.hex(),
        }


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    path: list[bytes]

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "size1": self.old_size,
            "size2": self.new_size,
            "root1": self.old_root.hex(),
            "root2": self.new_root.hex(),
            "path": [p.hex() for p in self.path],
        }


@dataclass(frozen=True)
class LogEntry:
    index: int
    event: AuditEvent
    leaf_hash: bytes


def is_unavailable(exc: BaseException) -> bool:
    """Connectivity failures (spool and retry) as opposed to bugs or bad data (report to the caller)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | OSError | TimeoutError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a core dependency
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def _sqlite_full_sync(dbapi_connection: Any, _record: Any) -> None:
    # Audit acknowledgements promise durability against power loss, not just process crashes.
    dbapi_connection.execute("PRAGMA synchronous=FULL")


Outcome = list[int] | BaseException


@dataclass(slots=True)
class _Request:
    """Queued entries and who waits for them: a thread (concurrent future) or an asyncio task (loop + waiter)."""

    entries: list[PendingEntry]
    future: concurrent.futures.Future[list[int]] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[list[int]] | None = None


def _deliver(items: list[tuple[asyncio.Future[list[int]], Outcome]]) -> None:
    for waiter, outcome in items:
        if waiter.done():  # the caller was cancelled; the event is still durable
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def _settle(batch: Sequence[_Request], outcomes: Sequence[Outcome]) -> None:
    """Resolve every waiter of a batch. Asyncio waiters get ONE thread-safe callback per event loop per batch
    (not one per event): waking a loop costs a syscall, and that dominated the cost of concurrent appends."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[list[int]], Outcome]]] = {}
    for request, outcome in zip(batch, outcomes, strict=True):
        if request.future is not None:
            if isinstance(outcome, BaseException):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)
        elif request.loop is not None and request.waiter is not None:
            by_loop.setdefault(request.loop, []).append((request.waiter, outcome))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, items)
        except RuntimeError:  # the loop was closed meanwhile: nobody is waiting any more
            logger.debug("audit append waiter's event loop is closed")


class AuditLog:
    """A tamper-evident audit log over SQLite or PostgreSQL. Thread-safe; use one per process."""

    def __init__(
        self,
        engine: Engine,
        signer: NoteSigner,
        *,
        spool: Spool | None = None,
        batch_size: int = 2000,
        batch_delay: float = 0.002,
        checkpoint_every: int = 10_000,
        checkpoint_interval: float | None = 60.0,
        retry_interval: float = 0.25,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.spool = spool
        self.batch_size = batch_size
        self.batch_delay = batch_delay
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self.retry_interval = retry_interval
        self._writer = TreeWriter()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # C-implemented: put/get cost far less
        self._closed = False
        self._database_down = bool(spool is not None and len(spool))
        self._next_retry = 0.0
        self._last_checkpoint_size, self._last_checkpoint_time = self._latest_checkpoint_size(), time.monotonic()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    # --- construction -----------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        data_dir: Path | None = None,
        signing_key: Path | None = None,
        origin: str = DEFAULT_ORIGIN,
        spool: bool | Path = True,
        run_migrations: bool = True,
        **options: Any,
    ) -> AuditLog:
        """Open (and migrate) the log at `url` (default: store.default_database_url()).

        The Ed25519 signing key is read from `signing_key`, else `<data dir>/audit-signing.key` (created with mode
        0600 on first use, its verifier key beside it in `audit-signing.vkey`). `spool=True` keeps a durable
        local queue at `<data dir>/audit-spool.db` (a path selects another file; False disables spooling).
        """
        from shieldstorm.store import database

        base = data_dir or database.data_dir()
        engine_options: dict[str, Any] = {}
        resolved = database.normalise_url(url or database.default_database_url())
        if resolved.startswith("postgresql"):
            engine_options["connect_args"] = {"connect_timeout": 3}
        engine = database.create_engine(resolved, **engine_options)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_full_sync)
        if run_migrations:
            try:
                database.migrate(engine)
            except sa.exc.OperationalError as exc:
                engine.dispose()
                raise ServiceUnavailableError(f"audit database unreachable: {exc.orig}") from exc
        signer = NoteSigner.load(signing_key) if signing_key else NoteSigner.load_or_create(
            base / "audit-signing.key", origin
        )
        spool_store: Spool | None = None
        if spool is not False:
            spool_store = Spool(spool if isinstance(spool, Path) else base / "audit-spool.db")
        return cls(engine, signer, spool=spool_store, **options)

    @property
    def origin(self) -> str:
        return self.signer.name

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    # --- appends ----------------------------------------------------------------------------------------------

    def _submit(self, events: Sequence[AuditEvent]) -> concurrent.futures.Future[list[int]]:
        if self._closed:
            raise ServiceUnavailableError("audit log is closed")
        entries = [PendingEntry(event.event_id, event.canonical()) for event in events]
        future: concurrent.futures.Future[list[int]] = concurrent.futures.Future()
        self._queue.put(_Request(entries, future=future))
        return future

    def _submit_async(self, events: Sequence[AuditEvent]) -> asyncio.Future[list[int]]:
        if self._closed:
            raise ServiceUnavailableError("audit log is closed")
        entries = [PendingEntry(event.event_id, event.canonical()) for event in events]
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[int]] = loop.create_future()
        self._queue.put(_Request(entries, loop=loop, waiter=waiter))
        return waiter

    def append(self, event: AuditEvent) -> int:
        """Append durably; returns the leaf index (or SPOOLED when the database is down and the spool holds it)."""
        return self._submit([event]).result()[0]

    def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        """Append several events (committed together or spooled together); indices in order."""
        if not events:
            return []
        return self._submit(events).result()

    async def append_async(self, event: AuditEvent) -> int:
        """Asyncio variant of append(): resolves only after the batch holding the event is durable."""
        result = await self._submit_async([event])
        return result[0]

    async def append_many_async(self, events: Sequence[AuditEvent]) -> list[int]:
        if not events:
            return []
        return await self._submit_async(events)

    # --- the writer thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            timeout = self._idle_timeout()
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                first = None
            batch: list[_Request] = []
            if first is _STOP:
                stopping = True
            elif first is not None:
                batch.append(first)
                count = len(first.entries)
                deadline = time.monotonic() + self.batch_delay
                while count < self.batch_size:
                    remaining = deadline - time.monotonic()
                    try:
                        item = self._queue.get_nowait() if remaining <= 0 else self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                    count += len(item.entries)
            if stopping:  # drain whatever is still queued so no caller waits forever
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        batch.append(item)
            if batch:
                self._write(batch)
            elif self._database_down and time.monotonic() >= self._next_retry:
                self._replay_spool()
            self._maybe_checkpoint()

    def _idle_timeout(self) -> float:
        waits = [5.0]
        if self._database_down:
            waits.append(max(0.0, self._next_retry - time.monotonic()))
        if self.checkpoint_interval:
            waits.append(max(0.01, self._last_checkpoint_time + self.checkpoint_interval - time.monotonic()))
        return min(waits)

    def _write(self, batch: list[_Request]) -> None:
        entries = [entry for request in batch for entry in request.entries]
        if self._database_down and self.spool is not None:
            self._spool(batch, entries)
            if time.monotonic() >= self._next_retry:
                self._replay_spool()
            return
        try:
            indices = self._commit(entries)
        except Exception as exc:
            if self.spool is not None and is_unavailable(exc):
                logger.warning("audit database unreachable, spooling events locally: %s", exc)
                self._mark_down()
                self._spool(batch, entries)
            else:
                error: Exception = exc
                if is_unavailable(exc):
                    error = ServiceUnavailableError(f"audit database unreachable: {exc}")
                _settle(batch, [error] * len(batch))
            return
        outcomes: list[Outcome] = []
        position = 0
        for request in batch:
            outcomes.append(indices[position : position + len(request.entries)])
            position += len(request.entries)
        _settle(batch, outcomes)

    def _commit(self, entries: list[PendingEntry]) -> list[int]:
        try:
            with self.engine.begin() as connection:
                indices = self._writer.append_batch(connection, entries)
        except BaseException:
            self._writer.forget()
            raise
        self._writer.commit_succeeded()
        return indices

    def _spool(self, batch: list[_Request], entries: list[PendingEntry]) -> None:
        assert self.spool is not None
        try:
            self.spool.put(entries)
        except Exception as exc:
            error = ServiceUnavailableError(f"audit database and spool both failed: {exc}")
            _settle(batch, [error] * len(batch))
            return
        _settle(batch, [[SPOOLED] * len(request.entries) for request in batch])

    def _mark_down(self) -> None:
        self._database_down = True
        self._next_retry = time.monotonic() + self.retry_interval

    def _replay_spool(self) -> None:
        """Replay spooled events in order; leave spooling mode once the spool is empty."""
        if self.spool is None:
            self._database_down = False
            return
        while True:
            rows = self.spool.peek(self.batch_size)
            if not rows:
                self._database_down = False
                logger.info("audit spool replayed; writing to the database again")
                return
            try:
                self._commit([entry for _, entry in rows])
            except Exception as exc:
                logger.warning("audit database still unreachable (%d spooled): %s", len(self.spool), exc)
                self._mark_down()
                return
            self.spool.remove_through(rows[-1][0])

    def flush_spool(self, timeout: float = 30.0) -> bool:
        """Wait until the spool is replayed (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._database_down and (self.spool is None or not len(self.spool)):
                return True
            time.sleep(0.05)
        return False

    @property
    def spooled(self) -> int:
        return len(self.spool) if self.spool is not None else 0

    # --- checkpoints ------------------------------------------------------------------------------------------

    def _latest_checkpoint_size(self) -> int:
        try:
            with self.engine.connect() as connection:
                latest = connection.execute(sa.select(sa.func.max(schema.checkpoints.c.size))).scalar()
        except Exception as exc:  # an unreachable database at start-up still lets events spool
            if not is_unavailable(exc):
                raise
            return 0
        return int(latest or 0)

    def _maybe_checkpoint(self) -> None:
        if self._database_down or self._writer.compact is None:
            return
        size = self._writer.compact.size
        if size <= self._last_checkpoint_size:
            return
        due_by_count = self.checkpoint_every and size - self._last_checkpoint_size >= self.checkpoint_every
        elapsed = time.monotonic() - self._last_checkpoint_time
        due_by_time = self.checkpoint_interval and elapsed >= self.checkpoint_interval
        if due_by_count or due_by_time:
            try:
                self.checkpoint()
            except Exception as exc:
                logger.warning("audit checkpoint failed: %s", exc)

    def checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of the tree as committed now (every acknowledged append included)."""
        from datetime import UTC, datetime

        with self.engine.begin() as connection:
            size, root = storage.read_head(connection)
            signed = self.signer.sign(Checkpoint(self.origin, size, root))
            existing = connection.execute(
                sa.select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == size)
            ).scalar()
            if existing is None:
                row = {"size": size, "root": root, "note": signed.note, "created": datetime.now(UTC)}
                connection.execute(schema.checkpoints.insert().values(**row))
        self._last_checkpoint_size = max(self._last_checkpoint_size, size)
        self._last_checkpoint_time = time.monotonic()
        return signed

    def checkpoints(self) -> list[Checkpoint]:
        """Stored checkpoints, oldest first (as stored: verify them with `verifier`)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(schema.checkpoints.c.size, schema.checkpoints.c.root, schema.checkpoints.c.note).order_by(
                    schema.checkpoints.c.size
                )
            ).all()
        return [Checkpoint(self.origin, int(r.size), bytes(r.root), str(r.note)) for r in rows]

    # --- reads and proofs -------------------------------------------------------------------------------------

    def head(self) -> tuple[int, bytes]:
        """(tree size, root hash) as committed."""
        with self.engine.connect() as connection:
            return storage.read_head(connection)

    @property
    def size(self) -> int:
        return self.head()[0]

    def root(self, size: int | None = None) -> bytes:
        with self.engine.connect() as connection:
            return storage.root_at(connection, storage.read_head(connection)[0] if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        """Proof that entry `index` is in the tree of `size` (default: current), with that tree's root."""
        with self.engine.connect() as connection:
            current, _ = storage.read_head(connection)
            size = current if size is None else size
            if not 0 < size <= current:
                raise ProofError(f"tree size {size} is not in 1..{current}")
            ranges = inclusion_ranges(index, size)
            hashes, root = storage.proof_with_root(connection, [(index, index + 1), *ranges], size)
        return InclusionProof(index, size, hashes[0], hashes[1:], root)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Proof that the tree of `new_size` (default: current) extends the tree of `old_size`."""
        with self.engine.connect() as connection:
            current, _ = storage.read_head(connection)
            new_size = current if new_size is None else new_size
            if new_size > current:
                raise ProofError(f"tree size {new_size} is beyond the log ({current} entries)")
            ranges = consistency_ranges(old_size, new_size)
            old_root = storage.root_at(connection, old_size)
            path, new_root = storage.proof_with_root(connection, ranges, new_size)
        return ConsistencyProof(old_size, new_size, old_root, new_root, path)

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[LogEntry]:
        """Entries [start, stop) in index order, streamed."""
        from shieldstorm.audit.verify import decode_leaf

        query = sa.select(schema.leaves.c.idx, schema.leaves.c.data, schema.leaves.c.leaf_hash).where(
            schema.leaves.c.idx >= start
        )
        if stop is not None:
            query = query.where(schema.leaves.c.idx < stop)
        with self.engine.connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=2000).execute(
                query.order_by(schema.leaves.c.idx)
            )
            for idx, data, hashed in result:
                _, event = decode_leaf(bytes(data))
                yield LogEntry(int(idx), AuditEvent.model_validate(event), bytes(hashed))

    def tail(self, count: int = 10) -> list[LogEntry]:
        size = self.size
        return list(self.entries(max(0, size - count), size))

    def find(self, event_id: str) -> int | None:
        """The leaf index of an event id, or None."""
        with self.engine.connect() as connection:
            return storage.existing_indices(connection, [event_id]).get(event_id)

    def verify(self, *, checkpoint_notes: Sequence[str] = (), verifier: NoteVerifier | None = None) -> Any:
        """Full verification (see shieldstorm.audit.verify.verify_log); returns a VerificationReport."""
        from shieldstorm.audit.verify import verify_log

        return verify_log(self.engine, verifier or self.verifier, extra_checkpoints=checkpoint_notes)

    # --- shutdown ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Commit (or spool) everything queued, stop the writer, release connections."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        if self.spool is not None:
            self.spool.close()
        self.engine.dispose()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

