"""The verifier: recompute the whole tree from the stored entries and compare it with everything stored.

Checks, in one streaming pass over the leaves (chunks of 2^14, one query for leaves and one for nodes each):
1. indices are contiguous from 0 (a gap = a deleted entry, named by the missing index);
2. each stored leaf hash is SHA-256(0x00 ‖ stored record) (a modified record);
3. each record names its own index (a swapped, reordered or inserted record: the smaller of the row's index and
   the index it names is reported, which is where the sequence first went wrong);
4. each stored perfect-subtree node equals the recomputed one (a consistent rewrite of a leaf and its hash is
   still caught here; the report names the first leaf of the smallest differing subtree);
5. the entry count and root equal the stored head;
6. every checkpoint (stored or given) carries a valid Ed25519 signature by the log's key, its root equals the
   recomputed root at its size, and a consistency proof from the stored nodes verifies from it to the current root.
An attacker who rewrites leaves, hashes and nodes consistently is still caught by (6): the report then names
the size of the last checkpoint that still matched as the first index that cannot be trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shieldstorm.audit import schema, storage
from shieldstorm.audit.checkpoint import Checkpoint, CheckpointError, NoteVerifier
from shieldstorm.audit.merkle import (
    CompactRange,
    ProofError,
    leaf_hash,
    node_position,
    position_node,
    verify_consistency,
)

CHUNK_LEVEL = 14
CHUNK = 1 << CHUNK_LEVEL
_INDEX_MARKER = b',"index":'


class LeafFormatError(ValueError):
    pass


def split_leaf(record: bytes) -> tuple[int, bytes]:
    """(index, canonical event bytes) from a leaf record `{"event":<event>,"index":<n>}`."""
    head, marker, tail = record.rpartition(_INDEX_MARKER)
    if not marker or not record.startswith(b'{"event":') or not tail.endswith(b"}") or not tail[:-1].isdigit():
        raise LeafFormatError("not an audit leaf record")
    return int(tail[:-1]), head[len(b'{"event":') :]


def decode_leaf(record: bytes) -> tuple[int, dict[str, Any]]:
    index, event = split_leaf(record)
    decoded = json.loads(event)
    if not isinstance(decoded, dict):
        raise LeafFormatError("leaf event is not a JSON object")
    return index, decoded


@dataclass(frozen=True)
class Problem:
    index: int | None
    message: str


@dataclass
class VerificationReport:
    tree_size: int = 0
    entries_checked: int = 0
    root: bytes = b""
    first_bad_index: int | None = None
    problems: list[Problem] = field(default_factory=list)
    checkpoints_verified: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, index: int | None, message: str) -> None:
        self.problems.append(Problem(index, message))
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "entries_checked": self.entries_checked,
            "root_hash": self.root.hex(),
            "first_bad_index": self.first_bad_index,
            "checkpoints_verified": self.checkpoints_verified,
            "problems": [{"index": p.index, "message": p.message} for p in self.problems],
        }


def _fetch_leaves(connection: Connection, start: int, stop: int) -> list[tuple[Any, Any, Any]]:
    """Leaves [start, stop) as (idx, leaf_hash, data) through the driver cursor: the verifier reads every row once,
    and SQLAlchemy's per-row result processing cost as much as hashing them."""
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"SELECT idx, leaf_hash, data FROM audit_leaves WHERE idx >= {marker} AND idx < {marker} "  # noqa: S608
            "ORDER BY idx",
            (start, stop),
        )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _check_record_index(record: bytes, idx: int, report: VerificationReport) -> bool:
    """True when the record is well formed and names index `idx`; else the problem is reported."""
    try:
        claimed, _ = split_leaf(record)
    except LeafFormatError:
        report.add(idx, f"entry {idx} is not a well-formed audit record")
        return False
    if claimed != idx:
        first = min(idx, claimed)
        report.add(first, f"entry stored at index {idx} records index {claimed} (reordered or inserted)")
        return False
    return True


def _check_chunk(
    connection: Connection,
    start: int,
    compact: CompactRange,
    wanted_roots: set[int],
    roots: dict[int, bytes],
    report: VerificationReport,
) -> bool:
    """Verify leaves [start, start + CHUNK); returns False when a problem was found (scan stops)."""
    rows = _fetch_leaves(connection, start, start + CHUNK)
    if not rows:
        return False
    expected_nodes: dict[int, bytes] = {}
    found_problem = False
    expected = start
    for idx, stored_hash, data in rows:
        idx = int(idx)
        if idx != expected:
            report.add(expected, f"entry {expected} is missing (deleted); the next stored entry is {idx}")
            found_problem = True
            break
        record = data if type(data) is bytes else bytes(data)
        hashed = leaf_hash(record)
        if hashed != (stored_hash if type(stored_hash) is bytes else bytes(stored_hash)):
            report.add(idx, f"entry {idx} was modified: its stored leaf hash does not match its record")
            found_problem = True
            # Continue with the stored hash: the subtrees above then still match, so this entry alone is named
            # (the record is already known to be bad; its neighbours are not blamed for it).
            hashed = bytes(stored_hash)
        if record.endswith(b',"index":%d}' % idx) and record.startswith(b'{"event":'):
            pass  # the common case, decided without parsing: the record names its own index
        elif not _check_record_index(record, idx, report):
            found_problem = True
        for level, node_index, value in compact.append(hashed):
            expected_nodes[node_position(level, node_index)] = value
        if compact.size in wanted_roots:
            roots[compact.size] = compact.root()
        expected += 1
    end = expected
    report.entries_checked = end
    # Stored nodes under this chunk occupy positions [2*start, 2*end - 2]; higher ones are fetched by key.
    stored = {
        int(pos): bytes(value)
        for pos, value in connection.execute(
            sa.select(schema.nodes.c.pos, schema.nodes.c.hash).where(
                schema.nodes.c.pos >= 2 * start, schema.nodes.c.pos <= 2 * (start + CHUNK) - 2
            )
        )
    }
    outside = [pos for pos in expected_nodes if pos not in stored and not 2 * start <= pos <= 2 * (start + CHUNK) - 2]
    if outside:
        stored.update(
            {
                int(pos): bytes(value)
                for pos, value in connection.execute(
                    sa.select(schema.nodes.c.pos, schema.nodes.c.hash).where(schema.nodes.c.pos.in_(outside))
                )
            }
        )
    flagged = [problem.index for problem in report.problems if problem.index is not None]
    for pos, value in sorted(expected_nodes.items(), key=lambda item: position_node(item[0])[0]):
        if stored.get(pos) != value:
            level, node_index = position_node(pos)
            first = node_index << level
            if any(first <= index < (node_index + 1) << level for index in flagged):
                continue  # explained by an entry already named above; do not blame its neighbours
            what = "is missing" if pos not in stored else "differs from the recomputed one"
            report.add(first, f"stored subtree over entries [{first}, {(node_index + 1) << level}) {what}")
            found_problem = True
            break
    for pos in stored if not found_problem else ():  # after a problem the scan stopped: later nodes are unscanned
        if pos not in expected_nodes:
            level, node_index = position_node(pos)
            if (node_index + 1) << level <= end:
                continue  # a higher node whose children complete later in the scan
            first = node_index << level
            report.add(first, f"stored subtree over entries [{first}, {(node_index + 1) << level}) has no entries")
            found_problem = True
            break
    return not found_problem and len(rows) == CHUNK


def verify_log(
    engine: Engine,
    verifier: NoteVerifier,
    *,
    extra_checkpoints: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> VerificationReport:
    """Verify the whole log stored behind `engine` (see the module docstring for what is checked)."""
    report = VerificationReport()
    with engine.connect() as connection:
        head_size, head_root = storage.read_head(connection)
        report.tree_size = head_size
        stored_notes = [
            str(note)
            for note in connection.execute(
                sa.select(schema.checkpoints.c.note).order_by(schema.checkpoints.c.size)
            ).scalars()
        ]
        checkpoints: list[Checkpoint] = []
        for note in [*stored_notes, *extra_checkpoints]:
            try:
                checkpoint = verifier.verify(note)
            except CheckpointError as exc:
                report.add(None, f"checkpoint rejected: {exc}")
                continue
            if checkpoint.origin != verifier.name:
                report.add(None, f"checkpoint origin {checkpoint.origin!r} is not this log's ({verifier.name!r})")
                continue
            checkpoints.append(checkpoint)
        wanted_roots = {checkpoint.size for checkpoint in checkpoints} | {head_size}
        roots: dict[int, bytes] = {0: CompactRange().root()}
        compact = CompactRange()
        start = 0
        while _check_chunk(connection, start, compact, wanted_roots, roots, report):
            start += CHUNK
            if progress is not None:
                progress(report.entries_checked, head_size)
        if progress is not None:
            progress(report.entries_checked, head_size)
        scanned = compact.size
        clean = report.ok
        if clean:
            last = connection.execute(sa.select(sa.func.max(schema.leaves.c.idx))).scalar()
            stored_count = 0 if last is None else int(last) + 1
            if stored_count > head_size:
                report.add(head_size, f"entries {head_size}..{stored_count - 1} lie beyond the recorded tree head")
            elif scanned < head_size:
                report.add(scanned, f"the tree head records {head_size} entries but only {scanned} are stored")
            elif roots.get(head_size) != head_root:
                report.add(None, "the stored tree head root does not match the recomputed root")
        report.root = compact.root()
        _check_checkpoints(connection, checkpoints, roots, scanned, clean, report)
    return report


def _check_checkpoints(
    connection: Connection,
    checkpoints: list[Checkpoint],
    roots: dict[int, bytes],
    scanned: int,
    clean: bool,
    report: VerificationReport,
) -> None:
    last_good = 0
    for checkpoint in sorted(checkpoints, key=lambda c: c.size):
        recomputed = roots.get(checkpoint.size)
        if checkpoint.size > scanned and clean:
            report.add(scanned, f"checkpoint at size {checkpoint.size} but the log holds only {scanned} entries")
            continue
        if recomputed is None:
            continue  # beyond the first problem: those entries are already reported as untrustworthy
        if recomputed != checkpoint.root_hash:
            blamed = last_good
            if report.first_bad_index is not None and last_good <= report.first_bad_index < checkpoint.size:
                blamed = report.first_bad_index  # explained by the entry already named, not by the ones before it
            report.add(blamed, f"entries in [{last_good}, {checkpoint.size}) differ from the signed checkpoint "
                       f"at size {checkpoint.size}")
            continue
        if clean:
            try:
                path = storage.consistency_path(connection, checkpoint.size, scanned)
            except ProofError as exc:
                report.add(None, f"no consistency proof from checkpoint {checkpoint.size}: {exc}")
                continue
            if not verify_consistency(checkpoint.size, scanned, checkpoint.root_hash, report.root, path):
                report.add(None, f"consistency proof from checkpoint {checkpoint.size} to {scanned} does not verify")
                continue
        last_good = checkpoint.size
        report.checkpoints_verified += 1
