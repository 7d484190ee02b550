"""Loading and validating packs: `load_pack("healthcare")` or `load_pack("path/to/pack.yaml")`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shieldstorm.errors import ConfigError
from shieldstorm.storm.config import load_yaml


class Pack(BaseModel):
    """A named selection of mutation types with weights and per-type parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["domain", "compliance", "custom"] = "custom"
    description: str = ""
    # Other packs whose types, weights and params this one starts from (later entries win).
    extends: list[str] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list, description="mutation types to run; empty = all")
    weights: dict[str, float] = Field(default_factory=dict)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Compliance controls the pack exercises (e.g. "HIPAA 164.502"), carried into mutation metadata.
    controls: list[str] = Field(default_factory=list)

    def params_for(self, mutation_type: str) -> dict[str, Any]:
        return dict(self.params.get(mutation_type, {}))


def _format_error(source: str, exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """One line naming the key's path; a typo'd key (extra_forbidden) is reported before its consequences."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    path = ".".join([*prefix, *(str(part) for part in err["loc"])]) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"pack {source}: {path}: {err['msg']}{more}"


def list_packs() -> list[str]:
    """Names of the built-in packs."""
    root = resources.files("shieldstorm.storm.packs")
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read(name: str) -> tuple[str, Any]:
    path = Path(name)
    if _is_path(name):
        if not path.is_file():
            raise ConfigError(f"pack file {name} not found")
        return str(path), load_yaml(path)
    resource = resources.files("shieldstorm.storm.packs").joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise ConfigError(f"unknown pack {name!r}; built-in packs: {', '.join(list_packs())}")
    return name, yaml.safe_load(resource.read_text("utf-8"))


def load_pack(name: str) -> Pack:
    """A validated pack (built-in name or YAML path); bad keys or values raise ConfigError naming the path.

    Built-in packs are cached; a pack file is read again on every call, so edits take effect.
    """
    if _is_path(name):
        return _load(name, ())
    return _load_builtin(name)


@cache
def _load_builtin(name: str) -> Pack:
    return _load(name, ())


def _is_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name or Path(name).is_file()


def _load(name: str, chain: tuple[str, ...]) -> Pack:
    if name in chain:
        raise ConfigError(f"pack {name}: circular 'extends' ({' -> '.join((*chain, name))})")
    source, raw = _read(name)
    if not isinstance(raw, dict):
        raise ConfigError(f"pack {source}: (root): must be a mapping")
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from exc
    if pack.extends:
        pack = _merge([_load(parent, (*chain, name)) for parent in pack.extends], pack)
    _check_against_registry(source, pack)
    return pack


def _merge(parents: list[Pack], child: Pack) -> Pack:
    types: list[str] = []
    weights: dict[str, float] = {}
    params: dict[str, dict[str, Any]] = {}
    controls: list[str] = []
    for pack in [*parents, child]:
        types.extend(t for t in pack.types if t not in types)
        weights.update(pack.weights)
        for key, value in pack.params.items():
            params[key] = {**params.get(key, {}), **value}
        controls.extend(c for c in pack.controls if c not in controls)
    return child.model_copy(update={"types": types, "weights": weights, "params": params, "controls": controls})


def _check_against_registry(source: str, pack: Pack) -> None:
    """Type names must exist and params must fit the mutator's declared parameter model."""
    from shieldstorm.storm.mutations import registry

    known = registry.all_mutators()
    for section, names in (("types", pack.types), ("weights", list(pack.weights)), ("params", list(pack.params))):
        for index, type_name in enumerate(names):
            if type_name not in known:
                where = f"{section}.{index}" if section == "types" else f"{section}.{type_name}"
                raise ConfigError(f"pack {source}: {where}: {registry.unknown_type_message(type_name, known)}")
    for type_name, weight in pack.weights.items():
        if weight <= 0:
            raise ConfigError(f"pack {source}: weights.{type_name}: must be greater than 0")
    for type_name, values in pack.params.items():
        model = known[type_name].params_model
        if model is None:
            continue
        try:
            model.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_format_error(source, exc, ("params", type_name))) from exc
