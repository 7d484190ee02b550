"""The console-script entry point itself (shieldstorm.cli.main:main)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from shieldstorm.cli import main as cli_main


def test_ctrl_c_while_commands_load_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # A real SIGINT delivered while the command modules are imported (the window a user hits when pressing
    # Ctrl-C right after starting a command).
    def import_then_interrupt(name: str) -> object:
        os.kill(os.getpid(), signal.SIGINT)
        return sys.modules[__name__]

    monkeypatch.setattr(cli_main, "_registered", False)
    monkeypatch.setattr(cli_main.importlib, "import_module", import_then_interrupt)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_module_entry_point_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "shieldstorm", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "scan" in result.stdout
