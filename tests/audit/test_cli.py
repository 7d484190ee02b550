"""`shieldstorm audit ...` against real SQLite/PostgreSQL logs, including rows tampered with directly in SQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shieldstorm.audit.events import leaf_record
from shieldstorm.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from shieldstorm.cli.main import _register_all, app
from shieldstorm.errors import InputError
from shieldstorm.store.database import create_engine
from tests.audit.helpers import make_event, open_log

SIZE = 40


@pytest.fixture
def filled(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A log of 40 events with a stored checkpoint at 32; yields (url, data dir)."""
    log = open_log(database_url, tmp_path)
    try:
        log.append_many([make_event(i) for i in range(32)])
        log.checkpoint()
        log.append_many([make_event(i) for i in range(32, SIZE)])
    finally:
        log.close()
    yield database_url, tmp_path / "state"


def cli(url: str, data_dir: Path, *args: str) -> tuple[int, str]:
    _register_all()
    result = CliRunner().invoke(app, ["audit", *args, "--database-url", url, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def tamper(url: str, statement: Callable[[sa.Connection], None]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            statement(connection)
    finally:
        engine.dispose()


def leaf_data(connection: sa.Connection, index: int) -> bytes:
    return bytes(connection.execute(sa.text("SELECT data FROM audit_leaves WHERE idx = :i"), {"i": index}).scalar_one())


def set_leaf(connection: sa.Connection, index: int, data: bytes, hashed: bytes | None = None) -> None:
    connection.execute(
        sa.text("UPDATE audit_leaves SET data = :d, leaf_hash = :h WHERE idx = :i"),
        {"d": data, "h": hashed if hashed is not None else leaf_hash(leaf_data(connection, index)), "i": index},
    )


def test_verify_clean_log_and_saved_checkpoint(filled: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = filled
    code, output = cli(url, data_dir, "checkpoint", "--output", str(tmp_path / "cp.note"))
    assert code == 0 and output.startswith("shieldstorm.local/audit\n40\n")
    code, output = cli(url, data_dir, "verify", "--checkpoint", str(tmp_path / "cp.note"))
    assert code == 0, output
    assert output.startswith("OK: 40 entries verified") and "3 signed checkpoint(s)" in output
    code, output = cli(url, data_dir, "verify", "--json")
    report = json.loads(output)
    assert report["ok"] and report["tree_size"] == SIZE and report["first_bad_index"] is None


def test_proof_consistency_tail_export(filled: tuple[str, Path]) -> None:
    url, data_dir = filled
    code, output = cli(url, data_dir, "proof", "13")
    proof = json.loads(output)
    assert code == 0 and proof["verified"] and proof["tree_size"] == SIZE
    path = [bytes.fromhex(h) for h in proof["path"]]
    assert verify_inclusion(13, SIZE, bytes.fromhex(proof["leaf_hash"]), path, bytes.fromhex(proof["root_hash"]))
    code, output = cli(url, data_dir, "consistency", "7", "33")
    consistency = json.loads(output)
    assert consistency["verified"] and verify_consistency(
        7, 33, bytes.fromhex(consistency["root1"]), bytes.fromhex(consistency["root2"]),
        [bytes.fromhex(h) for h in consistency["path"]],
    )
    _register_all()
    failed = CliRunner().invoke(app, ["audit", "proof", "40", "--database-url", url, "--data-dir", str(data_dir)])
    assert isinstance(failed.exception, InputError) and "outside a tree of size 40" in str(failed.exception)
    code, output = cli(url, data_dir, "tail", "-n", "3", "--json")
    lines = [json.loads(line) for line in output.splitlines()]
    assert [line["index"] for line in lines] == [37, 38, 39]
    assert lines[-1]["event"]["event_id"] == "evt-00000039"
    code, output = cli(url, data_dir, "export", "--format", "cef", "--start", "38")
    assert code == 0 and [line[:6] for line in output.splitlines()] == ["CEF:0|", "CEF:0|"]
    code, output = cli(url, data_dir, "export", "--format", "syslog", "--stop", "1")
    assert output.startswith("<110>1 ") and 'index="0"' in output


@pytest.mark.parametrize(
    ("scenario", "expected_index"),
    [("modify", 17), ("delete", 9), ("swap", 3), ("rewrite_consistently", 24), ("insert_beyond_head", SIZE)],
)
def test_verify_names_first_bad_index_after_sql_tampering(
    filled: tuple[str, Path], scenario: str, expected_index: int
) -> None:
    url, data_dir = filled

    def modify(connection: sa.Connection) -> None:
        data = leaf_data(connection, 17).replace(b'"allow"', b'"block"')
        connection.execute(sa.text("UPDATE audit_leaves SET data = :d WHERE idx = 17"), {"d": data})

    def delete(connection: sa.Connection) -> None:
        connection.execute(sa.text("DELETE FROM audit_leaves WHERE idx = 9"))

    def swap(connection: sa.Connection) -> None:
        three, four = leaf_data(connection, 3), leaf_data(connection, 4)
        set_leaf(connection, 3, four, leaf_hash(four))
        set_leaf(connection, 4, three, leaf_hash(three))

    def rewrite_consistently(connection: sa.Connection) -> None:
        # A new record with its own correct leaf hash: only the stored subtree nodes give it away.
        forged = leaf_record(make_event(25, decision="block").canonical(), 25)
        set_leaf(connection, 25, forged, leaf_hash(forged))

    def insert_beyond_head(connection: sa.Connection) -> None:
        forged = leaf_record(make_event(999).canonical(), SIZE)
        connection.execute(
            sa.text(
                "INSERT INTO audit_leaves (idx, event_id, leaf_hash, data, created) "
                "VALUES (:i, 'forged', :h, :d, CURRENT_TIMESTAMP)"
            ),
            {"i": SIZE, "h": leaf_hash(forged), "d": forged},
        )

    actions = {f.__name__: f for f in (modify, delete, swap, rewrite_consistently, insert_beyond_head)}
    tamper(url, actions[scenario])
    code, output = cli(url, data_dir, "verify")
    assert code == 1, output
    assert output.splitlines()[0] == f"TAMPERED: first bad index {expected_index}"
    code, output = cli(url, data_dir, "verify", "--json")
    assert code == 1 and json.loads(output)["first_bad_index"] == expected_index


def test_verify_rejects_foreign_checkpoint(filled: tuple[str, Path], tmp_path: Path) -> None:
    from shieldstorm.audit.checkpoint import Checkpoint, NoteSigner

    url, data_dir = filled
    other = NoteSigner.generate("shieldstorm.local/audit")
    forged = other.sign(Checkpoint("shieldstorm.local/audit", 40, b"\x00" * 32))
    (tmp_path / "forged.note").write_text(forged.note, encoding="utf-8")
    code, output = cli(url, data_dir, "verify", "--checkpoint", str(tmp_path / "forged.note"))
    assert code == 1 and "checkpoint rejected" in output


def test_cli_subprocess_exit_codes(filled: tuple[str, Path]) -> None:
    """The installed entry point: exit 1 and the index on tampering, exit 2 and one line on bad input."""
    url, data_dir = filled
    tamper(url, lambda c: c.execute(sa.text("DELETE FROM audit_leaves WHERE idx = 21")))
    env = {**os.environ, "SHIELDSTORM_DATABASE_URL": url, "SHIELDSTORM_DATA_DIR": str(data_dir)}
    base = [sys.executable, "-m", "shieldstorm", "audit"]
    run = subprocess.run([*base, "verify"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1 and run.stdout.startswith("TAMPERED: first bad index 21"), run.stderr
    bad = subprocess.run([*base, "export", "--format", "xml"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown export format" in bad.stderr


def test_bad_key_checkpoint_and_output_files_are_one_line_errors(filled: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = filled
    env = {**os.environ, "SHIELDSTORM_DATABASE_URL": url, "SHIELDSTORM_DATA_DIR": str(data_dir)}
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9\n")
    base = [sys.executable, "-m", "shieldstorm", "audit"]
    cases = [
        (["verify", "--vkey", str(latin1)], f"verifier key {latin1} is not valid UTF-8"),
        (["verify", "--checkpoint", str(latin1)], f"checkpoint {latin1} is not valid UTF-8"),
        (["tail", "--signing-key", str(latin1)], f"audit signing key {latin1} is not valid UTF-8"),
        (["export", "-o", str(tmp_path)], f"cannot write {tmp_path}: Is a directory"),
        (["tail", "--database-url", "nosuchdialect://x"], "unusable database URL"),
    ]
    for args, message in cases:
        result = subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, (args, result.stderr)
    stored = subprocess.run([*base, "checkpoint", "-o", str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=60)
    # The checkpoint is stored before the bad --output path is seen: it still reaches stdout.
    assert stored.returncode == 2 and f"cannot write {tmp_path}" in stored.stderr
    assert stored.stdout.splitlines()[1] == str(SIZE)
