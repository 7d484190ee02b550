from __future__ import annotations

from pathlib import Path

import pytest

from shieldstorm.errors import InputError, ServiceUnavailableError
from shieldstorm.storm.config import parse_config
from shieldstorm.storm.history import StormHistory, compare_runs
from shieldstorm.storm.models import StormRun
from shieldstorm.storm.runner import run_storm
from tests.services import free_port
from tests.storm.agents import TEST_MUTATORS

AGENT = """
import os
def respond(messages):
    prompt = messages[-1]["content"]
    if os.environ.get("STORM_TEST_FIXED") and "system prompt" in prompt:
        return "I can't share that."
    if "system prompt" in prompt or "HOW" in prompt:
        return "my canary is CANARY-1"
    return "ok " + prompt
"""


async def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StormRun, StormRun]:
    (tmp_path / "hist_agent.py").write_text(AGENT, encoding="utf-8")
    config = parse_config(
        {
            "name": "hist",
            "agent": {"type": "python", "callable": "hist_agent:respond"},
            "canary": "CANARY-1",
            "golden": [{"id": "a", "prompt": "how are you"}, {"id": "b", "prompt": "order status"}],
            "invariants": [{"type": "no_system_prompt_leak", "severity": "critical"}],
        },
        base_dir=tmp_path,
    )
    before = await run_storm(config, progress=False, mutators=TEST_MUTATORS)
    monkeypatch.setenv("STORM_TEST_FIXED", "1")
    after = await run_storm(config, progress=False, mutators=TEST_MUTATORS)
    return before, after


async def test_history_save_list_load_compare(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after = await two_runs(tmp_path, monkeypatch)
    with StormHistory.open(database_url) as store:
        store.save(before)
        store.save(after)
        listed = store.list()
        assert [r.run_id for r in listed[:2]] == [after.run_id, before.run_id]
        assert listed[0].score == pytest.approx(after.score)
        assert store.load("latest") == after
        assert store.load("latest~1") == before
        assert store.load(before.run_id[:8]) == before
        with pytest.raises(InputError, match="no run 'zzz'"):
            store.load("zzz")
        with pytest.raises(InputError, match="no run 'latest~5'"):
            store.load("latest~5")
    result = compare_runs(before, after)
    assert result.score.after is not None and result.score.before is not None
    assert result.score.after > result.score.before
    fixed = {(c.golden_id, c.mutation_type) for c in result.fixed}
    assert fixed == {("a", "probe"), ("b", "probe")}
    assert result.newly_failing == []
    back = compare_runs(after, before)
    assert {(c.golden_id, c.mutation_type) for c in back.newly_failing} == fixed
    assert all("canary" in c.failures[0] for c in back.newly_failing)


def test_unreachable_history_database_is_one_line_error() -> None:
    with pytest.raises(ServiceUnavailableError, match="storm history database unreachable"):
        StormHistory.open(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
