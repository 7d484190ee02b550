"""Loading of the mutators' word lists and templates (YAML files next to this module, cached)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def load_data(name: str) -> dict[str, Any]:
    """The parsed `data/<name>.yaml`; cached because mutators read it for every mutation."""
    text = resources.files("shieldstorm.storm.mutations").joinpath("data", f"{name}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError(f"mutation data file {name}.yaml must be a mapping")
    return data


@cache
def load_corpus(name: str = "injection") -> dict[str, list[str]]:
    """The Storm red-team corpus `packs/corpus/<name>.yaml`: snippets keyed by injection category."""
    text = resources.files("shieldstorm.storm.packs").joinpath("corpus", f"{name}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError(f"corpus file {name}.yaml must be a mapping")
    return {str(key): [str(item) for item in value] for key, value in data.items()}
