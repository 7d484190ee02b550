"""Plugin discovery through a real installed distribution (a dist-info directory on sys.path)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldstorm.errors import ConfigError
from shieldstorm.storm.mutations import generate, registry
from shieldstorm.storm.mutations.describe import describe

PLUGIN = """
from shieldstorm.storm.mutations import Message, MutationContext, Mutator


class Shout(Mutator):
    name = "shout"
    category = "noise"
    default_weight = 0.5
    description = "Upper-cases the prompt and adds exclamation marks."
    attacks = ("robustness",)

    def mutate(self, messages, ctx: MutationContext):
        *history, last = messages
        bangs = "!" * ctx.rng.randint(1, 5)
        return [[*history, Message(role=last.role, content=last.content.upper() + bangs)]]
"""


def install(root: Path, dist: str, module: str, source: str, entry_points: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[shieldstorm.mutators]\n{entry_points}\n", encoding="utf-8")


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    monkeypatch.undo()
    for name in [m for m in sys.modules if m.startswith("storm_plugin_")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    registry.all_mutators(refresh=True)


def test_entry_point_plugin_is_discovered_and_generates(plugin_dir: Path) -> None:
    assert "shout" not in registry.all_mutators(refresh=True)
    install(plugin_dir, "storm-plugin-demo", "storm_plugin_demo", PLUGIN, "shout = storm_plugin_demo:Shout")
    assert "shout" not in registry.all_mutators()  # cached until refreshed
    mutators = registry.all_mutators(refresh=True)
    assert "shout" in mutators
    assert registry.source_of("shout") == "plugin:storm-plugin-demo"
    info = {i.name: i for i in describe()}["shout"]
    assert info.source == "plugin:storm-plugin-demo" and info.default_weight == 0.5
    first = generate("g", "where is my order", seed=9, types=["shout"])
    assert first[0].prompt.startswith("WHERE IS MY ORDER!")
    assert first[0].weight == 0.5 and first[0].metadata["category"] == "noise"
    assert first == generate("g", "where is my order", seed=9, types=["shout"])


def test_broken_plugin_fails_loudly(plugin_dir: Path) -> None:
    install(
        plugin_dir,
        "storm-plugin-broken",
        "storm_plugin_broken",
        "raise ImportError('boom')\n",
        "bad = storm_plugin_broken:X",
    )
    with pytest.raises(ConfigError, match=r"entry point 'bad'.*failed to load: ImportError: boom"):
        registry.all_mutators(refresh=True)


def test_plugin_that_is_not_a_mutator_is_refused(plugin_dir: Path) -> None:
    install(plugin_dir, "storm-plugin-odd", "storm_plugin_odd", "VALUE = 3\n", "odd = storm_plugin_odd:VALUE")
    with pytest.raises(ConfigError, match="is not a shieldstorm Mutator"):
        registry.all_mutators(refresh=True)


def test_plugin_reusing_builtin_name_is_refused(plugin_dir: Path) -> None:
    source = PLUGIN.replace('name = "shout"', 'name = "casing"')
    install(plugin_dir, "storm-plugin-clash", "storm_plugin_clash", source, "casing = storm_plugin_clash:Shout")
    with pytest.raises(ConfigError, match="reuses a built-in mutator name"):
        registry.all_mutators(refresh=True)
