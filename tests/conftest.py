from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.services"]


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's embedded state (SQLite, spools, vault) out of the working tree."""
    if "SHIELDSTORM_DATA_DIR" not in os.environ:
        monkeypatch.setenv("SHIELDSTORM_DATA_DIR", str(tmp_path_factory.mktemp("data")))
