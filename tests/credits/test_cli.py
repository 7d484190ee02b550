"""`shieldstorm credits ...` against SQLite and PostgreSQL (in-process runner, plus the real entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from shieldstorm.cli.main import _register_all, app
from shieldstorm.errors import InputError, ServiceUnavailableError


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    _register_all()
    return CliRunner().invoke(app, ["credits", *args], env=env)


def test_topup_balance_history_round_trip(database_url: str) -> None:
    url = ["--database-url", database_url]
    first = invoke("topup", "acme", "100", "--reason", "invoice 7", "--json", *url)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["balance_after"] == 100
    for _ in range(3):
        assert invoke("topup", "acme", "5", *url).exit_code == 0
    again = invoke("topup", "acme", "5", "--idempotency-key", "inv-9", *url)
    assert invoke("topup", "acme", "5", "--idempotency-key", "inv-9", *url).output == again.output
    balance = invoke("balance", "acme", "--json", *url)
    assert json.loads(balance.output) == {"tenant": "acme", "available": 120, "reserved": 0}
    page = json.loads(invoke("history", "acme", "-n", "3", "--json", *url).output)
    assert [item["amount"] for item in page["items"]] == [5, 5, 5] and page["next_cursor"]
    rest = json.loads(invoke("history", "acme", "--cursor", page["next_cursor"], "--json", *url).output)
    assert [item["reason"] for item in rest["items"]] == ["topup (cli)", "invoice 7"]
    assert rest["next_cursor"] is None
    table = invoke("history", "acme", *url)
    assert "invoice 7" in table.output and "topup" in table.output
    bad = invoke("history", "acme", "--cursor", "nope", *url)
    assert isinstance(bad.exception, InputError)
    zero = invoke("topup", "acme", "0", *url)
    assert isinstance(zero.exception, InputError) and "credit amount" in str(zero.exception)


def test_unreachable_database_is_service_unavailable() -> None:
    down = invoke("balance", "beta", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert isinstance(down.exception, ServiceUnavailableError) and "unreachable" in str(down.exception)


def test_entry_point_reads_database_url_from_environment_and_prints_one_line_errors(tmp_path: Path) -> None:
    env = {**os.environ, "SHIELDSTORM_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"}
    base = [sys.executable, "-m", "shieldstorm", "credits"]
    ok = subprocess.run([*base, "topup", "beta", "9"], capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and "balance 9" in ok.stdout, ok.stderr
    bad = subprocess.run([*base, "history", "beta", "--cursor", "x"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "invalid history cursor" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_unusable_database_url_is_one_line_config_error() -> None:
    from shieldstorm.errors import ConfigError

    unknown = invoke("balance", "beta", "--database-url", "nosuchdialect://x")
    assert isinstance(unknown.exception, ConfigError) and "unusable database URL" in str(unknown.exception)
    garbled = invoke("balance", "beta", "--database-url", "not a url")
    assert isinstance(garbled.exception, ConfigError) and "Could not parse" in str(garbled.exception)
    # No MySQL driver is a dependency; the password must not be echoed back in the error.
    missing_driver = invoke("balance", "beta", "--database-url", "mysql://u:hunter2@h/db")
    assert isinstance(missing_driver.exception, ConfigError) and "hunter2" not in str(missing_driver.exception)
