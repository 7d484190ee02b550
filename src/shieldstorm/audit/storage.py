"""The Merkle tree in SQL: batched appends and O(log n) roots and proofs (one query each).

Appends lock the single head row first (an UPDATE, which takes the row lock on PostgreSQL and the write lock
on SQLite), so several processes can append to one database: a writer whose cached right edge is stale
reloads it from the stored nodes before hashing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shieldstorm.audit import schema
from shieldstorm.audit.events import leaf_record
from shieldstorm.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    Node,
    ProofError,
    consistency_ranges,
    fold_subtrees,
    inclusion_ranges,
    leaf_hash,
    node_position,
    perfect_subtrees,
    resolve_ranges,
)

_IN_CHUNK = 500  # bound on bound parameters per IN list
LEAF_COLUMNS = ("idx", "event_id", "leaf_hash", "data", "created")
NODE_COLUMNS = ("pos", "hash")


class PendingEntry(NamedTuple):
    """An event waiting to be appended: its unique id and canonical bytes (a tuple: built once per append)."""

    event_id: str
    event: bytes


def driver_query(connection: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` (qmark placeholders) on the driver cursor inside the connection's transaction.

    Used on hot read paths (proofs, roots, the verifier): for these small queries SQLAlchemy's statement building,
    cache-key generation and per-row processing cost several times the query itself.
    """
    if connection.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def driver_execute(connection: Connection, sql: str, params: Sequence[Any]) -> None:
    """Like driver_query, for statements without results."""
    if connection.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
    finally:
        cursor.close()


def lookup_nodes(connection: Connection, wanted: Sequence[Node]) -> dict[Node, bytes]:
    """Fetch perfect-subtree hashes (level 0 from audit_leaves, others from audit_nodes) in ONE query."""
    leaf_indices = [index for level, index in wanted if level == 0]
    positions = [node_position(level, index) for level, index in wanted if level > 0]
    parts: list[str] = []
    params: list[int] = []
    # Only "?" placeholders are formatted into the SQL; the values travel as parameters.
    if leaf_indices:
        marks = ", ".join("?" * len(leaf_indices))
        parts.append(f"SELECT 0, idx, leaf_hash FROM audit_leaves WHERE idx IN ({marks})")  # noqa: S608
        params.extend(leaf_indices)
    if positions:
        marks = ", ".join("?" * len(positions))
        parts.append(f"SELECT 1, pos, hash FROM audit_nodes WHERE pos IN ({marks})")  # noqa: S608
        params.extend(positions)
    if not parts:
        return {}
    rows = driver_query(connection, " UNION ALL ".join(parts), params)
    by_key: dict[tuple[int, int], bytes] = {(int(kind), int(key)): bytes(h) for kind, key, h in rows}
    found: dict[Node, bytes] = {}
    for level, index in wanted:
        key = (0, index) if level == 0 else (1, node_position(level, index))
        if key in by_key:
            found[(level, index)] = by_key[key]
    return found


def read_head(connection: Connection) -> tuple[int, bytes]:
    rows = driver_query(connection, "SELECT size, root FROM audit_head WHERE id = 1", ())
    if len(rows) != 1:
        raise ProofError("the audit tree head row is missing")
    return int(rows[0][0]), bytes(rows[0][1])


def load_compact_range(connection: Connection, size: int) -> CompactRange:
    subtrees = perfect_subtrees(0, size)
    found = lookup_nodes(connection, subtrees)
    missing = [node for node in subtrees if node not in found]
    if missing:
        raise ProofError(f"audit tree storage lacks the perfect subtree {missing[0]} of a tree of size {size}")
    return CompactRange(size, [(level, found[(level, index)]) for level, index in subtrees])


def existing_indices(connection: Connection, event_ids: Iterable[str]) -> dict[str, int]:
    ids = list(dict.fromkeys(event_ids))
    found: dict[str, int] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))  # placeholders only; ids travel as parameters
        rows = driver_query(connection, f"SELECT event_id, idx FROM audit_leaves WHERE event_id IN ({marks})", chunk)  # noqa: S608
        found.update({str(event_id): int(idx) for event_id, idx in rows})
    return found


class TreeWriter:
    """Appends batches in one transaction each; keeps the tree's right edge in memory between batches."""

    def __init__(self) -> None:
        self.compact: CompactRange | None = None

    def append_batch(self, connection: Connection, entries: Sequence[PendingEntry]) -> list[int]:
        """Append inside the caller's transaction; returns each entry's leaf index.

        An event id already in the log (a replay, a retry) is not appended again: its existing index is returned.
        The cached right edge is only advanced by `commit_succeeded` once the transaction commits.
        """
        driver_execute(connection, "UPDATE audit_head SET size = size WHERE id = 1", ())  # takes the write lock
        size, _ = read_head(connection)
        compact = self.compact
        if compact is None or compact.size != size:
            compact = load_compact_range(connection, size)
        working = CompactRange(compact.size, compact.subtrees)
        known = existing_indices(connection, (entry.event_id for entry in entries))
        created = datetime.now(UTC)
        # Rows as tuples in column order (LEAF_COLUMNS / NODE_COLUMNS): they go straight to the driver.
        leaf_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[Any, ...]] = []
        indices: list[int] = []
        append_leaf, append_node = leaf_rows.append, node_rows.append
        for entry in entries:
            if entry.event_id in known:
                indices.append(known[entry.event_id])
                continue
            index = working.size
            record = leaf_record(entry.event, index)
            hashed = leaf_hash(record)
            append_leaf((index, entry.event_id, hashed, record, created))
            for level, node_index, value in working.append(hashed):
                append_node((node_position(level, node_index), value))
            known[entry.event_id] = index
            indices.append(index)
        if leaf_rows:
            insert_tuples(connection, schema.leaves, LEAF_COLUMNS, leaf_rows)
            if node_rows:
                insert_tuples(connection, schema.nodes, NODE_COLUMNS, node_rows)
            driver_execute(
                connection, "UPDATE audit_head SET size = ?, root = ? WHERE id = 1", (working.size, working.root())
            )
        self._pending = working
        return indices

    def commit_succeeded(self) -> None:
        self.compact = self._pending

    def forget(self) -> None:
        """After a failed transaction the cached edge may be ahead of the database: reload next time."""
        self.compact = None


def _sqlite_datetime(value: datetime) -> str:
    # The text form SQLAlchemy's SQLite DateTime type writes and reads (UTC, no offset).
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def insert_rows(connection: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Bulk insert of dict rows (all with the same keys); see insert_tuples."""
    columns = tuple(rows[0])
    insert_tuples(connection, table, columns, [tuple(row[column] for column in columns) for row in rows])


def insert_tuples(
    connection: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert: COPY on PostgreSQL (psycopg 3), the driver's executemany on SQLite.

    Both go to the DBAPI connection inside the caller's transaction: SQLAlchemy's per-parameter processing cost
    more than the insert itself at tens of thousands of rows per second.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    if dialect == "sqlite":
        datetime_columns = [i for i, item in enumerate(rows[0]) if isinstance(item, datetime)]
        if datetime_columns:
            converted: dict[int, str] = {}  # one batch shares one `created` datetime: convert it once
            fixed = []
            for row in rows:
                values = list(row)
                for position in datetime_columns:
                    moment = values[position]
                    text = converted.get(id(moment))
                    if text is None:
                        text = converted[id(moment)] = _sqlite_datetime(moment)
                    values[position] = text
                fixed.append(tuple(values))
            rows = fixed
        placeholders = ", ".join("?" for _ in columns)
        # table and column names are this module's schema constants, never input
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(statement, rows)
        return
    connection.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


# --- reads ----------------------------------------------------------------------------------------------------


def root_at(connection: Connection, size: int) -> bytes:
    current, _ = read_head(connection)
    if not 0 <= size <= current:
        raise ProofError(f"tree size {size} is beyond the log ({current} entries)")
    if size == 0:
        return EMPTY_ROOT
    return fold_subtrees(resolve_ranges([(0, size)], lambda wanted: lookup_nodes(connection, wanted)))


def inclusion_path(connection: Connection, index: int, size: int) -> list[bytes]:
    current, _ = read_head(connection)
    if size > current:
        raise ProofError(f"tree size {size} is beyond the log ({current} entries)")
    return resolve_ranges(inclusion_ranges(index, size), lambda wanted: lookup_nodes(connection, wanted))


def proof_with_root(connection: Connection, ranges: list[tuple[int, int]], size: int) -> tuple[list[bytes], bytes]:
    """Proof hashes and the root at `size`, all perfect subtrees fetched in ONE query."""
    everything = [*ranges, (0, size)] if size else ranges
    hashes = resolve_ranges(everything, lambda wanted: lookup_nodes(connection, wanted))
    if size:
        return hashes[:-1], hashes[-1]
    return hashes, EMPTY_ROOT


def consistency_path(connection: Connection, old_size: int, new_size: int) -> list[bytes]:
    current, _ = read_head(connection)
    if new_size > current:
        raise ProofError(f"tree size {new_size} is beyond the log ({current} entries)")
    return resolve_ranges(consistency_ranges(old_size, new_size), lambda wanted: lookup_nodes(connection, wanted))
