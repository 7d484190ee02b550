"""Shadow mode on live traffic through the holder, the shadow report, promotion, and `policy diff` replay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from shieldstorm.policy import PolicyEngine, PolicyHolder
from shieldstorm.policy.shadow import ShadowRecorder, diff_engines, summarise, transition_risk
from shieldstorm.policy.store import PolicyStore
from tests.policy.helpers import make_bundle

TRAFFIC = [{"risk": r / 10} for r in range(10)]


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str]) -> Ran:
    """The real command tree in-process (subprocess CLI runs are covered in test_cli.py): user errors map to
    exit code 2 and one line, as `cli.main.main` does."""
    from typer.testing import CliRunner

    from shieldstorm.cli.main import _register_all, app
    from shieldstorm.errors import ShieldStormError

    _register_all()
    result = CliRunner().invoke(app, list(args), env=env)
    if isinstance(result.exception, ShieldStormError):
        return Ran(2, result.stdout, f"error: {result.exception}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, "")


def test_shadow_divergences_recorded_and_reported(database_url: str, tmp_path: Path) -> None:
    store = PolicyStore.open(database_url)
    recorder = ShadowRecorder(store, sample_rate=1.0)
    holder = PolicyHolder(PolicyEngine(make_bundle("1", limit=0.5)))
    recorder.attach(holder)
    holder.set_candidate(PolicyEngine(make_bundle("2", limit=0.3, tag="rev-1")))
    try:
        decisions = [holder.evaluate(doc).decision for doc in TRAFFIC]
        recorder.flush()
        # Enforced decisions come from the active bundle only.
        assert decisions.count("block") == 4
        rows = store.divergences("2")
        # risk 0.4 and 0.5: allowed by the active bundle, blocked by the candidate.
        assert len(rows) == 2
        assert {(r["active"]["decision"], r["candidate"]["decision"]) for r in rows} == {("allow", "block")}
        summary = summarise(rows)
        assert summary["transitions"] == {"allow -> block": 2}
        assert not summary["clean"]
        assert len(store.samples()) == len(TRAFFIC)

        holder.set_candidate(PolicyEngine(make_bundle("3", limit=0.5, tag="rev-1")))
        for doc in TRAFFIC:
            holder.evaluate(doc)
        recorder.flush()
        assert summarise(store.divergences("3"))["clean"]
        holder.promote()
        assert holder.engine.revision == "3"
    finally:
        recorder.close()
        store.close()


def test_diff_scores_loosening_above_tightening() -> None:
    base = PolicyEngine(make_bundle("1", limit=0.5))
    tighter = diff_engines(base, PolicyEngine(make_bundle("2", limit=0.3, tag="rev-1")), TRAFFIC)
    looser = diff_engines(base, PolicyEngine(make_bundle("2", limit=0.8, tag="rev-1")), TRAFFIC)
    same = diff_engines(base, PolicyEngine(make_bundle("2", limit=0.5, tag="rev-1")), TRAFFIC)
    assert (tighter.changed, tighter.transitions["allow -> block"]) == (2, 2)
    assert (looser.changed, looser.transitions["block -> allow"]) == (3, 3)
    assert same.changed == 0 and same.risk == "none"
    assert looser.risk_score > tighter.risk_score
    assert looser.risk == "high"
    assert transition_risk("block", "allow") > transition_risk("allow", "block")


def test_cli_diff_shadow_report_and_history(tmp_path: Path) -> None:
    env = {"SHIELDSTORM_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "SHIELDSTORM_DATA_DIR": str(tmp_path)}
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    old.write_bytes(make_bundle("1", limit=0.5).to_tar_gz())
    new.write_bytes(make_bundle("2", limit=0.8, tag="rev-1").to_tar_gz())
    samples = tmp_path / "traffic.jsonl"
    samples.write_text("\n".join(json.dumps(doc) for doc in TRAFFIC))
    result = cli("policy", "diff", str(old), str(new), "--samples", str(samples), "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] == 3 and report["risk"] == "high"

    empty = cli("policy", "diff", str(old), str(new), env=env)
    assert empty.returncode == 2
    assert "no recorded traffic" in empty.stderr

    report_run = cli("policy", "shadow", "report", "--json", env=env)
    assert report_run.returncode == 0, report_run.stderr
    assert json.loads(report_run.stdout)["clean"] is True

    activated = cli("policy", "activate", str(old), "--allow-unsigned", env=env)
    assert activated.returncode == 0, activated.stderr
    older = tmp_path / "older.tar.gz"
    older.write_bytes(make_bundle("0").to_tar_gz())
    backwards = cli("policy", "activate", str(older), "--allow-unsigned", env=env)
    assert backwards.returncode == 2
    assert "does not increase" in backwards.stderr
    history = cli("policy", "history", "--json", env=env)
    assert [row["revision"] for row in json.loads(history.stdout)] == ["1"]


def test_runtime_shadow_candidate_on_live_traffic_then_promote(tmp_path: Path) -> None:
    from shieldstorm.policy.activation import PolicyRejected
    from shieldstorm.policy.runtime import PolicyRuntime
    from shieldstorm.policy.signing import generate_key

    private, public = generate_key("Ed25519")
    active, candidate = tmp_path / "active.tar.gz", tmp_path / "candidate.tar.gz"
    active.write_bytes(make_bundle("5", key=private).to_tar_gz())
    candidate.write_bytes(make_bundle("6", key=private, limit=0.3, tag="rev-5").to_tar_gz())
    runtime = PolicyRuntime.create(source=str(active), public_keys=[public], min_delay=5, max_delay=6)
    runtime.start()
    try:
        unsigned = tmp_path / "unsigned.tar.gz"
        unsigned.write_bytes(make_bundle("7").to_tar_gz())
        with pytest.raises(PolicyRejected, match="not signed"):
            runtime.shadow(unsigned)
        runtime.shadow(candidate)
        decisions = [runtime.holder.evaluate(doc).decision for doc in TRAFFIC]
        assert decisions.count("block") == 4  # still the active bundle's decisions
        status = runtime.status()
        assert status["candidate"] == "6" and status["divergences"] == 2 and status["shadow_evaluated"] == 10
        runtime.promote()
        assert runtime.holder.engine.revision == "6" and runtime.holder.candidate is None
        assert [runtime.holder.evaluate(doc).decision for doc in TRAFFIC].count("block") == 6
    finally:
        runtime.stop()
