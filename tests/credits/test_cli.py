"""`shieldstorm credits ...` as a real subprocess against SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "shieldstorm", "credits", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_topup_balance_history_round_trip(database_url: str) -> None:
    url = ["--database-url", database_url]
    first = run_cli("topup", "acme", "100", "--reason", "invoice 7", "--json", *url)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["balance_after"] == 100
    for _ in range(3):
        assert run_cli("topup", "acme", "5", *url).returncode == 0
    balance = run_cli("balance", "acme", "--json", *url)
    assert json.loads(balance.stdout) == {"tenant": "acme", "available": 115, "reserved": 0}
    page = json.loads(run_cli("history", "acme", "-n", "3", "--json", *url).stdout)
    assert [item["amount"] for item in page["items"]] == [5, 5, 5] and page["next_cursor"]
    rest = json.loads(run_cli("history", "acme", "--cursor", page["next_cursor"], "--json", *url).stdout)
    assert [item["reason"] for item in rest["items"]] == ["invoice 7"] and rest["next_cursor"] is None
    table = run_cli("history", "acme", *url)
    assert "invoice 7" in table.stdout and "topup" in table.stdout


def test_database_url_from_environment_and_one_line_errors(tmp_path: Path) -> None:
    env = {"SHIELDSTORM_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"}
    assert run_cli("topup", "beta", "9", env_extra=env).returncode == 0
    assert "9 available" in run_cli("balance", "beta", env_extra=env).stdout
    bad = run_cli("history", "beta", "--cursor", "nope", env_extra=env)
    assert bad.returncode == 2 and "invalid history cursor" in bad.stderr and "Traceback" not in bad.stderr
    zero = run_cli("topup", "beta", "0", env_extra=env)
    assert zero.returncode == 2 and "credit amount" in zero.stderr
    down = run_cli("balance", "beta", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert down.returncode == 2 and "unreachable" in down.stderr and "Traceback" not in down.stderr
