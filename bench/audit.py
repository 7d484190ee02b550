"""Audit log benchmark: appends/s (SQLite, PostgreSQL), inclusion proof time and full verification at N leaves.

Each figure is printed next to a naive baseline measured in the same run, with the ratio:
- appends: group-committed appends (many concurrent `append_async` callers, and `append_many`) versus one commit
  per append (batch_size=1, sequential) — durability is the same (SQLite synchronous=FULL; PostgreSQL fsync=on);
- inclusion proof: one SQL query over stored perfect-subtree nodes versus recomputing the path from all leaf hashes;
- verification: the streaming verifier (leaf hashes, index binding, every stored node, head, checkpoints) versus the
  bare minimum of re-hashing every record and recomputing the root recursively (RFC 9162 MTH).

Targets (issue 5): >= 20,000 appends/s on SQLite, >= 10,000/s on PostgreSQL, proof <= 1 ms at 1,000,000 leaves,
verify 1,000,000 entries < 30 s.

    .venv/bin/python bench/audit.py                      # full run (1,000,000 leaves for proofs and verification)
    .venv/bin/python bench/audit.py --leaves 200000      # smaller tree on a busy machine
    SHIELDSTORM_BENCH_POSTGRES_URL=postgresql://... .venv/bin/python bench/audit.py   # else a throwaway server
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.services (throwaway PostgreSQL)

import sqlalchemy as sa

from shieldstorm.audit import schema
from shieldstorm.audit.events import AuditEvent
from shieldstorm.audit.log import AuditLog
from shieldstorm.audit.merkle import leaf_hash, node_hash, verify_inclusion
from shieldstorm.audit.verify import verify_log


def make_events(count: int, prefix: str) -> list[AuditEvent]:
    return [
        AuditEvent(
            event_type="shield.decision",
            actor="gateway",
            tenant=f"tenant-{n % 7}",
            correlation_id=f"req-{n}",
            data={"decision": "allow", "risk": 0.12, "path": "/v1/chat/completions", "n": n},
            event_id=f"{prefix}-{n:09d}",
        )
        for n in range(count)
    ]


def ratio(fast: float, slow: float) -> str:
    return f"{fast / slow:,.1f}x" if slow else "n/a"


# --- appends --------------------------------------------------------------------------------------------------


Rates = tuple[float, float]  # (events per wall-clock second, events per CPU second of this process)


async def concurrent_appends(log: AuditLog, events: Sequence[AuditEvent], callers: int) -> Rates:
    """`callers` tasks each appending one event at a time (each awaits durability)."""
    iterator = iter(events)

    async def caller() -> None:
        for event in iterator:
            await log.append_async(event)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return len(events) / (time.perf_counter() - started), len(events) / (time.process_time() - cpu)


def bulk_appends(log: AuditLog, events: Sequence[AuditEvent], batch: int) -> Rates:
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(events), batch):
        log.append_many(events[start : start + batch])
    return len(events) / (time.perf_counter() - started), len(events) / (time.process_time() - cpu)


def naive_appends(log: AuditLog, events: Sequence[AuditEvent]) -> float:
    started = time.perf_counter()
    for event in events:
        log.append(event)
    return len(events) / (time.perf_counter() - started)


def bench_appends(name: str, url: str, state: Path, events: int, baseline_events: int, rounds: int) -> dict[str, float]:
    concurrent: list[Rates] = []
    bulk: list[Rates] = []
    options: dict[str, Any] = {"checkpoint_interval": None, "checkpoint_every": 0, "spool": False}
    log = AuditLog.open(url, data_dir=state, **options)
    try:
        for round_number in range(rounds):
            batch = make_events(events, f"c{round_number}-{uuid.uuid4().hex[:6]}")
            concurrent.append(asyncio.run(concurrent_appends(log, batch, callers=512)))
            batch = make_events(events, f"b{round_number}-{uuid.uuid4().hex[:6]}")
            bulk.append(bulk_appends(log, batch, 1000))
    finally:
        log.close()
    naive_log = AuditLog.open(url, data_dir=state, batch_size=1, batch_delay=0.0, **options)
    try:
        naive = naive_appends(naive_log, make_events(baseline_events, f"n-{uuid.uuid4().hex[:6]}"))
    finally:
        naive_log.close()
    result = {
        "concurrent": statistics.median(rate for rate, _ in concurrent),
        "concurrent_cpu": statistics.median(rate for _, rate in concurrent),
        "bulk": statistics.median(rate for rate, _ in bulk),
        "bulk_cpu": statistics.median(rate for _, rate in bulk),
        "naive": naive,
    }
    print(f"\n== appends on {name} (median of {rounds} rounds of {events:,} events; durable before acknowledged)")
    print(f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; '/CPU-s' = events per CPU second "
          "of this process (the machine-independent figure on a shared box)")
    concurrent_rate, bulk_rate = result["concurrent"], result["bulk"]
    print(f"  512 concurrent append_async callers : {concurrent_rate:>10,.0f} /s  "
          f"({ratio(concurrent_rate, naive)} baseline)   {result['concurrent_cpu']:>10,.0f} /CPU-s")
    print(f"  append_many, 1000 per call          : {bulk_rate:>10,.0f} /s  ({ratio(bulk_rate, naive)} baseline)   "
          f"{result['bulk_cpu']:>10,.0f} /CPU-s")
    print(f"  baseline: one commit per append     : {naive:>10,.0f} /s  ({baseline_events:,} events)")
    return result


# --- proofs and verification at N leaves ----------------------------------------------------------------------


def naive_mth(hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH over leaf hashes, recursively (what a store without interior nodes must do)."""
    n = len(hashes)
    if n == 1:
        return hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(naive_mth(hashes[:k]), naive_mth(hashes[k:]))


def naive_path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 PATH(m, D[n]) recomputed from all leaf hashes."""
    n = len(hashes)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if index < k:
        return [*naive_path(index, hashes[:k]), naive_mth(hashes[k:])]
    return [*naive_path(index - k, hashes[k:]), naive_mth(hashes[:k])]


def build_tree(url: str, state: Path, leaves: int) -> AuditLog:
    log = AuditLog.open(url, data_dir=state, checkpoint_interval=None, checkpoint_every=0, spool=False)
    have = log.size
    chunk = 20_000
    started = time.perf_counter()
    for start in range(have, leaves, chunk):
        count = min(chunk, leaves - start)
        events = [
            AuditEvent(
                event_type="shield.decision",
                actor="gateway",
                tenant=f"tenant-{n % 7}",
                data={"decision": "allow", "n": n},
                event_id=f"tree-{n:09d}",
            )
            for n in range(start, start + count)
        ]
        log.append_many(events)
        if start and start % 200_000 == 0:
            print(f"  ... {start:,} leaves ({time.perf_counter() - started:.0f} s)", flush=True)
    if leaves > have or not log.checkpoints():
        log.checkpoint()
        print(f"  built {leaves - have:,} leaves in {time.perf_counter() - started:.1f} s")
    return log


def time_calls(function: Callable[[], Any], count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def load_leaf_hashes(log: AuditLog) -> list[bytes]:
    with log.engine.connect() as connection:
        query = sa.select(schema.leaves.c.leaf_hash).order_by(schema.leaves.c.idx)
        return [bytes(h) for h in connection.execute(query).scalars()]


def bench_proofs_and_verify(url: str, state: Path, leaves: int, proofs: int) -> dict[str, float]:
    print(f"\n== inclusion proofs and verification at {leaves:,} leaves (SQLite)")
    log = build_tree(url, state, leaves)
    try:
        size = log.size
        rng = random.Random(1)
        indices = [rng.randrange(size) for _ in range(proofs)]
        positions = iter(indices * 2)

        def one_proof() -> None:
            proof = log.inclusion_proof(next(positions), size)
            if not verify_inclusion(proof.index, proof.size, proof.leaf_hash, proof.path, proof.root):
                raise SystemExit("proof did not verify")

        cpu = time.process_time()
        proof_time = time_calls(one_proof, proofs)
        proof_cpu = (time.process_time() - cpu) / proofs

        started = time.perf_counter()
        hashes = load_leaf_hashes(log)
        load_time = time.perf_counter() - started
        naive_samples = []
        for index in indices[:3]:
            started = time.perf_counter()
            path = naive_path(index, hashes)
            naive_samples.append(time.perf_counter() - started + load_time)
            assert path == log.inclusion_proof(index, size).path
        naive_proof = statistics.median(naive_samples)
        del hashes

        started, cpu = time.perf_counter(), time.process_time()
        report = verify_log(log.engine, log.verifier)
        verify_time, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
        if not report.ok:
            raise SystemExit(f"verification failed: {report.problems[:3]}")

        started = time.perf_counter()
        with log.engine.connect() as connection:
            records = connection.execution_options(yield_per=20_000).execute(
                sa.select(schema.leaves.c.data).order_by(schema.leaves.c.idx)
            )
            rehashed = [leaf_hash(bytes(data)) for data in records.scalars()]
        naive_root = naive_mth(rehashed)
        naive_verify = time.perf_counter() - started
        assert naive_root == log.root(size)
    finally:
        log.close()
    print(f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  inclusion proof (SQL, stored nodes) : {proof_time * 1e3:>10.3f} ms median of {proofs} "
          f"(mean CPU time {proof_cpu * 1e3:.3f} ms)")
    print(f"  baseline: path from all leaf hashes : {naive_proof * 1e3:>10.1f} ms  (incl. {load_time:.2f} s loading "
          f"hashes; {ratio(naive_proof, proof_time)} slower)")
    print(f"  verify all entries (full verifier)  : {verify_time:>10.1f} s  ({report.entries_checked:,} entries, "
          f"{report.checkpoints_verified} checkpoint(s); CPU time {verify_cpu:.1f} s)")
    print(f"  baseline: re-hash + recursive root  : {naive_verify:>10.1f} s  (verifier/baseline = "
          f"{verify_time / naive_verify:.2f}; the verifier also checks every stored node, index binding, head, "
          "checkpoints)")
    return {
        "proof_cpu_ms": proof_cpu * 1e3,
        "verify_cpu_s": verify_cpu,
        "proof_ms": proof_time * 1e3,
        "naive_proof_ms": naive_proof * 1e3,
        "verify_s": verify_time,
        "naive_verify_s": naive_verify,
    }


# --- PostgreSQL -----------------------------------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str | None]:
    configured = os.environ.get("SHIELDSTORM_BENCH_POSTGRES_URL") or os.environ.get("SHIELDSTORM_TEST_POSTGRES_URL")
    server = None
    if configured is None:
        from tests.services import ThrowawayPostgres

        server = ThrowawayPostgres(fsync=True)
        try:
            configured = server.start()
        except Exception as exc:
            print(f"\n(PostgreSQL skipped: {exc})")
            server.stop()
            yield None
            return
    import psycopg

    name = f"ss_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(configured, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = configured.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(configured, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000, help="events per append round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-events", type=int, default=1_000, help="events for the one-commit-each baseline")
    parser.add_argument("--leaves", type=int, default=1_000_000, help="tree size for proofs and verification")
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--skip-tree", action="store_true")
    parser.add_argument("--tree-db", type=Path, help="reuse this SQLite file for the big tree (kept between runs)")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, sqlalchemy {sa.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="ss-bench-") as scratch:
        root = Path(scratch)
        results: dict[str, Any] = {}
        if not args.skip_appends:
            results["sqlite"] = bench_appends(
                "SQLite (WAL, synchronous=FULL)", f"sqlite:///{root / 'appends.db'}", root / "state",
                args.events, args.baseline_events, args.rounds,
            )
        if not args.skip_postgres and not args.skip_appends:
            with postgres_database() as url:
                if url is not None:
                    results["postgres"] = bench_appends(
                        "PostgreSQL (fsync=on, synchronous_commit=on)", url, root / "state",
                        args.events, args.baseline_events, args.rounds,
                    )
        if not args.skip_tree:
            tree_db = args.tree_db or root / "tree.db"
            # a kept tree keeps its signing key beside it, so its checkpoints still verify in the next run
            tree_state = tree_db.parent / f"{tree_db.stem}-state" if args.tree_db else root / "state"
            results["tree"] = bench_proofs_and_verify(f"sqlite:///{tree_db}", tree_state, args.leaves, args.proofs)
    print("\n== targets")
    if "sqlite" in results:
        lite = results["sqlite"]
        print(f"  SQLite appends >= 20,000/s        : {'PASS' if lite['concurrent'] >= 20_000 else 'MISS'} "
              f"(concurrent {lite['concurrent']:,.0f}/s, bulk {lite['bulk']:,.0f}/s)")
    if "postgres" in results:
        pg = results["postgres"]
        print(f"  PostgreSQL appends >= 10,000/s    : {'PASS' if pg['concurrent'] >= 10_000 else 'MISS'} "
              f"(concurrent {pg['concurrent']:,.0f}/s, bulk {pg['bulk']:,.0f}/s)")
    if "tree" in results:
        tree = results["tree"]
        proof_ok, verify_ok = tree["proof_ms"] <= 1.0, tree["verify_s"] < 30
        leaves = f"{args.leaves:,}"
        print(f"  proof <= 1 ms at {leaves} leaves : {'PASS' if proof_ok else 'MISS'} ({tree['proof_ms']:.3f} ms)")
        print(f"  verify < 30 s at {leaves} leaves : {'PASS' if verify_ok else 'MISS'} ({tree['verify_s']:.1f} s)")


if __name__ == "__main__":
    hashlib.sha256(b"")  # warm the hash constructor before timing
    main()
