"""The SQL-backed log on SQLite and PostgreSQL: durable appends, proofs, checkpoints, idempotency."""

from __future__ import annotations

import asyncio
import stat
import threading
from pathlib import Path

import pytest

from shieldstorm.audit.checkpoint import NoteVerifier
from shieldstorm.audit.events import leaf_record
from shieldstorm.audit.merkle import MemoryTree, ProofError, verify_consistency, verify_inclusion
from tests.audit.helpers import make_event, open_log


def test_appends_match_reference_tree_and_proofs_verify(database_url: str, tmp_path: Path) -> None:
    log = open_log(database_url, tmp_path)
    try:
        events = [make_event(i) for i in range(37)]
        indices = [log.append(event) for event in events[:5]] + log.append_many(events[5:])
        assert indices == list(range(37))
        reference = MemoryTree.from_data(leaf_record(e.canonical(), i) for i, e in enumerate(events))
        size, root = log.head()
        assert (size, root) == (37, reference.root())
        for tree_size in (1, 2, 5, 16, 33, 37):
            assert log.root(tree_size) == reference.root(tree_size)
            for index in range(0, tree_size, 3):
                proof = log.inclusion_proof(index, tree_size)
                assert proof.path == reference.inclusion_proof(index, tree_size)
                assert verify_inclusion(index, tree_size, proof.leaf_hash, proof.path, proof.root)
            for old in (0, 1, 3, 8, tree_size):
                if old <= tree_size:
                    consistency = log.consistency_proof(old, tree_size)
                    assert consistency.path == reference.consistency_proof(old, tree_size)
                    assert verify_consistency(
                        old, tree_size, consistency.old_root, consistency.new_root, consistency.path
                    )
        with pytest.raises(ProofError):
            log.inclusion_proof(37, 37)
        with pytest.raises(ProofError):
            log.inclusion_proof(0, 38)
        assert [entry.event for entry in log.tail(3)] == events[-3:]
        assert log.find("evt-00000004") == 4
    finally:
        log.close()


def test_same_event_id_is_stored_once(database_url: str, tmp_path: Path) -> None:
    log = open_log(database_url, tmp_path)
    try:
        first = log.append(make_event(1))
        again = log.append_many([make_event(2), make_event(1), make_event(2)])
        assert first == 0 and again == [1, 0, 1]
        assert log.size == 2
    finally:
        log.close()


def test_concurrent_appenders_get_distinct_durable_indices(database_url: str, tmp_path: Path) -> None:
    log = open_log(database_url, tmp_path)
    results: list[int] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        for i in range(40):
            index = log.append(make_event(offset * 1000 + i))
            with lock:
                results.append(index)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(results) == list(range(320))
        assert log.verify().ok
    finally:
        log.close()
    reopened = open_log(database_url, tmp_path)  # a new writer continues from the stored right edge
    try:
        assert reopened.append(make_event(99_999)) == 320
        assert reopened.verify().ok
    finally:
        reopened.close()


async def test_async_appends(database_url: str, tmp_path: Path) -> None:
    log = open_log(database_url, tmp_path)
    try:
        indices = await asyncio.gather(*(log.append_async(make_event(i)) for i in range(200)))
        assert sorted(indices) == list(range(200))
        for index in (0, 57, 199):
            assert log.find(f"evt-{indices.index(index):08d}") == index
        assert await log.append_many_async([make_event(500)]) == [200]
    finally:
        log.close()


def test_checkpoints_every_n_entries_are_signed_and_consistent(database_url: str, tmp_path: Path) -> None:
    log = open_log(database_url, tmp_path, checkpoint_every=10)
    try:
        for start in range(0, 35, 5):
            log.append_many([make_event(i) for i in range(start, start + 5)])
        manual = log.checkpoint()
        checkpoints = log.checkpoints()
        sizes = [c.size for c in checkpoints]
        assert sizes[-1] == 35 and manual.size == 35
        assert {10, 20, 30} <= set(sizes)
        verifier = NoteVerifier.from_vkey((tmp_path / "state" / "audit-signing.vkey").read_text())
        for checkpoint in checkpoints:
            parsed = verifier.verify(checkpoint.note)
            assert parsed.root_hash == log.root(parsed.size)
            proof = log.consistency_proof(parsed.size)
            assert verify_consistency(parsed.size, 35, parsed.root_hash, log.root(), proof.path)
        key_mode = stat.S_IMODE((tmp_path / "state" / "audit-signing.key").stat().st_mode)
        assert key_mode == 0o600
        report = log.verify()
        assert report.ok and report.checkpoints_verified == len(checkpoints)
    finally:
        log.close()


def test_time_based_checkpoint(tmp_path: Path) -> None:
    log = open_log(f"sqlite:///{tmp_path / 'a.db'}", tmp_path, checkpoint_every=0, checkpoint_interval=0.05)
    try:
        log.append(make_event(1))
        for _ in range(100):
            if log.checkpoints():
                break
            threading.Event().wait(0.05)
        assert [c.size for c in log.checkpoints()] == [1]
    finally:
        log.close()


def test_closed_log_refuses_appends(tmp_path: Path) -> None:
    from shieldstorm.errors import ServiceUnavailableError

    log = open_log(f"sqlite:///{tmp_path / 'a.db'}", tmp_path)
    log.close()
    with pytest.raises(ServiceUnavailableError):
        log.append(make_event(1))
