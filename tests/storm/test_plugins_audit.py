from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from shieldstorm.storm.config import parse_config
from shieldstorm.storm.pipeline import execute
from shieldstorm.storm.runner import run_storm
from tests.storm.agents import TEST_MUTATORS

PLUGIN = """
from typing import Literal
from shieldstorm.storm.invariants.base import Check, Invariant, InvariantConfig


class WordCountConfig(InvariantConfig):
    type: Literal["word_count"]
    max_words: int


class WordCount(Invariant):
    type = "word_count"
    Config = WordCountConfig

    def check(self, ctx):
        words = len(ctx.output.split())
        if words <= self.config.max_words:
            return Check(True)
        return Check(False, f"{words} words > {self.config.max_words}")
"""


def test_invariant_plugin_from_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "wordcount_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "wordcount_plugin.py").write_text(PLUGIN, encoding="utf-8")
    (site / "wordcount_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: wordcount-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (site / "wordcount_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[shieldstorm.invariants]\nword_count = wordcount_plugin:WordCount\n", encoding="utf-8"
    )
    (tmp_path / "chatty.py").write_text("def respond(messages):\n    return 'one two three four five'\n")
    config = {
        "agent": {"type": "python", "callable": "chatty:respond"},
        "golden": ["hello there my friend"],
        "mutations": {"types": ["leetspeak"]},
        "invariants": [{"type": "word_count", "max_words": 3, "severity": "high"}],
        "history": {"enabled": False},
        "reports": {"formats": ["json"]},
    }
    (tmp_path / "storm.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "SHIELDSTORM_DATA_DIR": str(tmp_path / ".ss")}
    result = subprocess.run(
        [sys.executable, "-m", "shieldstorm", "storm", "run", "--no-progress", "--json-out", "out.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr  # min_score 0 and severity high: the gate passes
    failures = json.loads((tmp_path / "out.json").read_text())["results"][0]["failures"]
    assert failures == [
        {"invariant": "word_count", "type": "word_count", "severity": "high", "passed": False, "reason": "5 words > 3"}
    ]
    config["invariants"] = [{"type": "word_count", "max_wrds": 3}]
    (tmp_path / "storm.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    typo = subprocess.run(
        [sys.executable, "-m", "shieldstorm", "storm", "run", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert typo.returncode == 2 and "invariants[0].max_wrds: unknown key" in typo.stderr


def test_run_is_recorded_in_the_audit_log(tmp_path: Path) -> None:
    from shieldstorm.audit.log import AuditLog

    (tmp_path / "quiet.py").write_text("def respond(messages):\n    return 'ok'\n")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    config = parse_config(
        {
            "agent": {"type": "python", "callable": "quiet:respond"},
            "golden": ["secret prompt text"],
            "mutations": {"types": ["leetspeak"]},
            "invariants": [{"type": "output_not_empty"}],
            "history": {"enabled": False},
            "audit": {"enabled": True, "url": url},
        },
        base_dir=tmp_path,
    )
    outcome = execute(config, progress=False, output_dir=tmp_path / "r")
    log = AuditLog.open(url, data_dir=tmp_path)
    try:
        entries = list(log.entries())
    finally:
        log.close()
    events = [e.event for e in entries if e.event.event_type == "storm.run"]
    assert len(events) == 1
    assert events[0].data["run_id"] == outcome.run.run_id and events[0].data["total"] == 1
    assert "secret prompt text" not in json.dumps(events[0].data).lower()  # summary only, no prompts


async def test_rate_limit_spaces_calls(tmp_path: Path) -> None:
    (tmp_path / "stamp.py").write_text("import time\ndef respond(messages):\n    return str(time.monotonic())\n")
    config = parse_config(
        {
            "agent": {"type": "python", "callable": "stamp:respond", "thread": False},
            "golden": ["a", "b", "c"],
            "invariants": [{"type": "output_not_empty"}],
            "run": {"rate_limit": 20, "baseline": False},
        },
        base_dir=tmp_path,
    )
    started = time.monotonic()
    run = await run_storm(config, progress=False, mutators=TEST_MUTATORS, concurrency=8)
    stamps = sorted(float(r.output) for r in run.results)
    assert len(stamps) == 6
    # Slots are 50 ms apart from the first call, whatever the concurrency; sleeping never ends early, so the
    # sixth call cannot start before 5 intervals have passed (a lower bound: a loaded machine only adds).
    assert stamps[-1] - started >= 5 * 0.05
