"""Load `module:attribute` references the way users expect: the config file's directory is importable."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from shieldstorm.errors import ConfigError


def ensure_on_path(directory: Path) -> None:
    """Put `directory` first on sys.path (once), so `my_agent:respond` next to storm.yaml imports."""
    entry = str(directory.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_object(reference: str, base_dir: Path | None = None, *, what: str = "object") -> Any:
    """Resolve `package.module:attr.sub` and raise a one-line ConfigError when it cannot."""
    module_name, sep, attr_path = reference.partition(":")
    if not sep or not module_name or not attr_path:
        raise ConfigError(f"{what} {reference!r} must look like 'module:function'")
    if base_dir is not None:
        ensure_on_path(base_dir)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is a config problem, shown in one line
        raise ConfigError(f"cannot import {what} module {module_name!r}: {type(exc).__name__}: {exc}") from None
    value: Any = module
    for part in attr_path.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"{what} {reference!r}: {module_name!r} has no attribute {attr_path!r}") from None
    return value
