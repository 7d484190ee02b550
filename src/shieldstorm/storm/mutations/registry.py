"""All known mutators: the built-ins plus plugins from the `shieldstorm.mutators` entry point group.

A plugin entry point may name a `Mutator` subclass (instantiated without arguments), a `Mutator`
instance, or a zero-argument callable returning one. A plugin that fails to load, is not a mutator or
reuses a built-in name raises `ConfigError` naming the entry point: a broken plugin must not make a run
silently test less.
"""

from __future__ import annotations

import threading
from importlib import metadata
from typing import Any

from shieldstorm.errors import ConfigError
from shieldstorm.storm.mutations import (
    attacks,
    context,
    encodings,
    injection,
    llm,
    noise,
    paraphrase,
    probes,
)
from shieldstorm.storm.mutations.base import Mutator

ENTRY_POINT_GROUP = "shieldstorm.mutators"

_BUILTIN_MODULES = (paraphrase, noise, encodings, injection, attacks, context, probes, llm)
_lock = threading.Lock()
_cache: dict[str, Mutator] | None = None
_sources: dict[str, str] = {}


def builtin_mutators() -> dict[str, Mutator]:
    found: dict[str, Mutator] = {}
    for module in _BUILTIN_MODULES:
        classes: tuple[type[Mutator], ...] = module.MUTATORS
        for cls in classes:
            if cls.name in found:
                raise RuntimeError(f"duplicate built-in mutator name {cls.name!r}")
            found[cls.name] = cls()
    return found


def _instantiate(entry_point: metadata.EntryPoint) -> Mutator:
    where = f"entry point {entry_point.name!r} ({entry_point.value}) in group {ENTRY_POINT_GROUP}"
    try:
        loaded: Any = entry_point.load()
        if isinstance(loaded, type) and issubclass(loaded, Mutator):
            mutator: Any = loaded()
        elif isinstance(loaded, Mutator):
            mutator = loaded
        elif callable(loaded):
            mutator = loaded()
        else:
            mutator = loaded
    except Exception as exc:  # any import/constructor failure of third-party code
        raise ConfigError(f"mutator plugin {where} failed to load: {type(exc).__name__}: {exc}") from exc
    if not isinstance(mutator, Mutator):
        raise ConfigError(f"mutator plugin {where} is not a shieldstorm Mutator")
    for attribute in ("name", "category"):
        if not isinstance(getattr(mutator, attribute, None), str) or not getattr(mutator, attribute):
            raise ConfigError(f"mutator plugin {where} has no {attribute!r}")
    return mutator


def plugin_mutators() -> dict[str, tuple[Mutator, str]]:
    """Mutators from installed distributions: name -> (mutator, distribution name)."""
    found: dict[str, tuple[Mutator, str]] = {}
    # Sorted so discovery order (and any clash message) does not depend on sys.path order.
    entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
    for entry_point in entry_points:
        mutator = _instantiate(entry_point)
        dist = entry_point.dist.name if entry_point.dist is not None else "unknown"
        if mutator.name in found and found[mutator.name][1] != dist:
            other = found[mutator.name][1]
            raise ConfigError(f"mutator plugin name {mutator.name!r} is registered twice ({other}, {dist})")
        found[mutator.name] = (mutator, dist)
    return found


def all_mutators(*, refresh: bool = False) -> dict[str, Mutator]:
    """Name -> mutator for every built-in and plugin mutator (cached; `refresh=True` rescans plugins)."""
    global _cache
    with _lock:
        if _cache is None or refresh:
            mutators = builtin_mutators()
            sources = dict.fromkeys(mutators, "builtin")
            for name, (mutator, dist) in plugin_mutators().items():
                if name in mutators:
                    raise ConfigError(f"mutator plugin {name!r} from {dist} reuses a built-in mutator name")
                mutators[name] = mutator
                sources[name] = f"plugin:{dist}"
            _cache = dict(sorted(mutators.items()))
            _sources.clear()
            _sources.update(sources)
        return dict(_cache)


def source_of(name: str) -> str:
    """'builtin' or 'plugin:<distribution>' for a registered mutator."""
    all_mutators()
    return _sources.get(name, "unknown")


def get(name: str) -> Mutator:
    mutators = all_mutators()
    if name not in mutators:
        raise ConfigError(unknown_type_message(name, mutators))
    return mutators[name]


def unknown_type_message(name: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown mutation type {name!r}{hint}; known types: {', '.join(sorted(known))}"
