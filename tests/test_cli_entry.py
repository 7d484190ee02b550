"""The console-script entry point itself (shieldstorm.cli.main:main)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shieldstorm.cli import main as cli_main


def test_ctrl_c_while_commands_load_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Python turns a SIGINT into KeyboardInterrupt in the main thread wherever it is (here: inside an import of
    # a command module). The exception is raised directly: pytest-xdist workers ignore SIGINT itself.
    def import_interrupted(name: str) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "_registered", False)
    monkeypatch.setattr(cli_main.importlib, "import_module", import_interrupted)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_module_entry_point_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "shieldstorm", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "scan" in result.stdout
