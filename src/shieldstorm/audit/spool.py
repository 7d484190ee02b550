"""A durable local FIFO for audit events while the database is unreachable.

An SQLite file (WAL, synchronous=FULL: every put is fsynced before it returns) holding event ids and canonical
event bytes in arrival order. Replay reads from the head, appends to the database (which skips event ids it
already has, so a replay interrupted after its commit is not duplicated) and only then deletes the rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from shieldstorm.audit.storage import PendingEntry


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, "
            "event BLOB NOT NULL)"
        )

    def put(self, entries: Sequence[PendingEntry]) -> None:
        """Durably enqueue, in order; returns after the fsync."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO spool (event_id, event) VALUES (?, ?)", [(e.event_id, e.event) for e in entries]
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def peek(self, limit: int) -> list[tuple[int, PendingEntry]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, event_id, event FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), PendingEntry(str(event_id), bytes(event))) for seq, event_id, event in rows]

    def remove_through(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
