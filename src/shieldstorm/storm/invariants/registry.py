"""All invariant types: the built-ins plus plugins from the entry point group `shieldstorm.invariants`."""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points

from shieldstorm.storm.invariants.base import Invariant

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "shieldstorm.invariants"

# Modules whose `Invariant` subclasses are the built-ins (listed, not scanned, so import order is stable).
BUILTIN_MODULES = (
    "shieldstorm.storm.invariants.text",
    "shieldstorm.storm.invariants.formats",
    "shieldstorm.storm.invariants.behaviour",
    "shieldstorm.storm.invariants.security",
)


def _subclasses_in(module_name: str) -> list[type[Invariant]]:
    module = importlib.import_module(module_name)
    found = []
    for value in vars(module).values():
        is_invariant = isinstance(value, type) and issubclass(value, Invariant) and value.__module__ == module_name
        if is_invariant and getattr(value, "type", None) and getattr(value, "Config", None):
            found.append(value)
    return found


@functools.cache
def builtin_invariants() -> dict[str, type[Invariant]]:
    result: dict[str, type[Invariant]] = {}
    for module_name in BUILTIN_MODULES:
        for cls in _subclasses_in(module_name):
            result[cls.type] = cls
    return result


_plugin_errors: list[str] = []


@functools.cache
def plugin_invariants() -> dict[str, type[Invariant]]:
    """Invariants that installed packages register. A broken plugin is reported (see `plugin_errors`)
    whenever a config uses an unknown type, instead of breaking every command at import time."""
    result: dict[str, type[Invariant]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # a plugin can fail in any way while importing
            _plugin_errors.append(f"invariant plugin {ep.name!r} ({ep.value}) failed to load: {exc}")
            continue
        if not (isinstance(cls, type) and issubclass(cls, Invariant) and getattr(cls, "Config", None)):
            _plugin_errors.append(
                f"invariant plugin {ep.name!r} ({ep.value}) is not an Invariant subclass with a Config"
            )
            continue
        if cls.type in builtin_invariants():
            _plugin_errors.append(f"invariant plugin {ep.name!r} reuses the built-in type {cls.type!r}")
            continue
        result[cls.type] = cls
    return result


def plugin_errors() -> list[str]:
    plugin_invariants()
    return list(_plugin_errors)


def all_invariants() -> dict[str, type[Invariant]]:
    return {**builtin_invariants(), **plugin_invariants()}
