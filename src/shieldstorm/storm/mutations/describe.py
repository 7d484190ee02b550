"""A listing of every mutation type (built-ins, plugins, LLM-backed) for the CLI and reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shieldstorm.storm.mutations import registry


class MutatorInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    category: str
    default_weight: float
    description: str
    attacks: list[str]
    expects_refusal: bool
    source: str
    requires_llm: bool = False


def describe() -> list[MutatorInfo]:
    """Every registered mutation type (built-ins and plugins), sorted by category then name."""
    infos = [
        MutatorInfo(
            name=name,
            category=m.category,
            default_weight=m.default_weight,
            description=m.description,
            attacks=list(m.attacks),
            expects_refusal=m.expects_refusal,
            source=registry.source_of(name),
            requires_llm=m.requires_llm,
        )
        for name, m in registry.all_mutators().items()
    ]
    return sorted(infos, key=lambda info: (info.category, info.name))
