"""The `shieldstorm policy` commands as a user runs them: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from shieldstorm.policy.bundle import PolicyBundle, load_bundle
from shieldstorm.policy.engine import DEFAULT_POLICY_DIR
from shieldstorm.policy.signing import cosign_sign_blob, generate_key


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIELDSTORM_DATA_DIR": str(cwd / "data"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", "from shieldstorm.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
        check=False,
    )


def test_keygen_build_sign_verify_test(tmp_path: Path) -> None:
    assert run("policy", "keygen", "--alg", "ML-DSA-65", "-o", "pq", cwd=tmp_path).returncode == 0
    assert (tmp_path / "pq.key").stat().st_mode & 0o777 == 0o600
    built = run("policy", "build", str(DEFAULT_POLICY_DIR), "-o", "b.tar.gz", "--revision", "7", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    # Deterministic: the same bytes as an in-process build of the same directory and revision.
    expected = load_bundle(DEFAULT_POLICY_DIR)
    files = {**expected.files, ".manifest": json.dumps({**expected.manifest, "revision": "7"}, sort_keys=True).encode()}
    assert (tmp_path / "b.tar.gz").read_bytes() == PolicyBundle(files).to_tar_gz()
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert "/.manifest" in tar.getnames()

    assert run("policy", "sign", "b.tar.gz", "--key", "pq.key", cwd=tmp_path).returncode == 0
    verified = run("policy", "verify", "b.tar.gz", "--pubkey", "pq.pub", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "ML-DSA-65" in verified.stdout

    (tmp_path / "other.pub").write_bytes(generate_key("Ed25519")[1])
    wrong = run("policy", "verify", "b.tar.gz", "--pubkey", "other.pub", cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.strip().startswith("error:") and "Traceback" not in wrong.stderr

    tested = run("policy", "test", "b.tar.gz", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout
    test_rules = (DEFAULT_POLICY_DIR / "shield" / "decision_test.rego").read_text().count("\ntest_")
    assert test_rules >= 14
    assert f"{test_rules}/{test_rules} passed" in tested.stdout
    assert "PASS" in tested.stdout


def test_cosign_verification_and_failing_tests(tmp_path: Path) -> None:
    private, public = generate_key("ES256")
    (tmp_path / "cosign.pub").write_bytes(public)
    (tmp_path / "b.tar.gz").write_bytes(load_bundle(DEFAULT_POLICY_DIR).to_tar_gz())
    (tmp_path / "b.tar.gz.sig").write_bytes(cosign_sign_blob((tmp_path / "b.tar.gz").read_bytes(), private))
    ok = run(
        "policy", "verify", "b.tar.gz", "--pubkey", "cosign.pub", "--cosign-signature", "b.tar.gz.sig", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "b.tar.gz").write_bytes((tmp_path / "b.tar.gz").read_bytes() + b"\0")
    bad = run(
        "policy", "verify", "b.tar.gz", "--pubkey", "cosign.pub", "--cosign-signature", "b.tar.gz.sig", cwd=tmp_path
    )
    assert bad.returncode == 2

    failing = tmp_path / "failing" / "shield"
    failing.mkdir(parents=True)
    (failing / "p.rego").write_text('package shield\nimport rego.v1\ndecision := {"decision": "allow"}\n')
    (failing / "p_test.rego").write_text(
        'package shield\nimport rego.v1\ntest_blocks if {\n    decision.decision == "block" with input as {}\n}\n'
    )
    result = run("policy", "test", str(tmp_path / "failing"), cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "0/1 passed" in result.stdout
    missing = run("policy", "test", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no such bundle" in missing.stderr


def test_unreadable_bundles_are_input_errors_for_test_and_check(tmp_path: Path) -> None:
    """Not an archive, a non-UTF-8 module, data nested past the recursion limit: exit 2 with one line, not
    exit 1 with a failed-test table or a crash finding from the isolated child."""
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    nonutf = tmp_path / "nonutf"
    nonutf.mkdir()
    (nonutf / "x.rego").write_bytes(b"package x\n# caf\xe9\n")
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "x.rego").write_text("package x\n", encoding="utf-8")
    (deep / "data.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    cases = {"junk.tar.gz": "not a .tar.gz or .zip bundle", "nonutf": "x.rego is not UTF-8",
             "deep": "data.json is nested too deeply", "missing": "no such bundle"}
    for command in ("test", "check"):
        for name, message in cases.items():
            result = run("policy", command, name, cwd=tmp_path)
            assert result.returncode == 2, (command, name, result.stdout, result.stderr)
            assert result.stderr.strip().splitlines() == [f"error: {name}: {message}"], (command, result.stderr)
    build = run("policy", "build", "deep", "-o", "out.tar.gz", cwd=tmp_path)
    assert build.returncode == 2 and "nested too deeply" in build.stderr and "Traceback" not in build.stderr
