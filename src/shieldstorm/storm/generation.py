"""Turn the config's golden cases into mutations, deterministically for a seed.

Normally this is `shieldstorm.storm.mutations.generate` (the built-in and plugin mutators). Callers may pass
their own `Mutator` instances instead (tests, programmatic use); they get the same seeding scheme.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from shieldstorm.errors import ConfigError
from shieldstorm.storm.config import StormConfig
from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator, stable_seed


def mutation_id(golden_id: str, mutation_type: str, variant: int, index: int, seed: int) -> str:
    raw = f"{golden_id}\x1f{mutation_type}\x1f{variant}\x1f{index}\x1f{seed}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_with(
    mutators: Mapping[str, Mutator],
    golden_id: str,
    messages: list[Message],
    *,
    seed: int,
    variants: int = 1,
    weights: Mapping[str, float] | None = None,
    system_prompt: str | None = None,
    canary: str | None = None,
) -> list[Mutation]:
    out: list[Mutation] = []
    for name in sorted(mutators):
        mutator = mutators[name]
        weight = (weights or {}).get(name, mutator.default_weight)
        for variant in range(variants):
            ctx = MutationContext(
                rng=random.Random(stable_seed(seed, golden_id, name, variant)),
                system_prompt=system_prompt,
                canary=canary,
            )
            for index, conversation in enumerate(mutator.mutate(list(messages), ctx)):
                out.append(
                    Mutation(
                        id=mutation_id(golden_id, name, variant, index, seed),
                        mutation_type=name,
                        golden_id=golden_id,
                        variant=variant,
                        messages=conversation,
                        weight=weight,
                        description=mutator.description,
                    )
                )
    return out


def _registry_generate() -> Any:
    try:
        from shieldstorm.storm.mutations import generate  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return generate


def known_mutation_types() -> set[str] | None:
    try:
        from shieldstorm.storm.mutations import registry  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    return set(registry.all_mutators())


def build_mutations(config: StormConfig, seed: int, mutators: Mapping[str, Mutator] | None = None) -> list[Mutation]:
    """All mutations of every golden case, in a stable order. Never silently empty."""
    spec = config.mutations
    selected: Mapping[str, Mutator] | None = None
    if mutators is not None:
        names = spec.types or sorted(mutators)
        for index, name in enumerate(names):
            if name not in mutators:
                raise ConfigError(f"mutations.types[{index}]: unknown mutation type {name!r}")
        selected = {n: mutators[n] for n in names if n not in spec.exclude}
    else:
        known = known_mutation_types()
        if known is not None:
            for index, name in enumerate(spec.types or []):
                if name not in known:
                    raise ConfigError(
                        f"mutations.types[{index}]: unknown mutation type {name!r}; known: {', '.join(sorted(known))}"
                    )
            for index, name in enumerate(spec.exclude):
                if name not in known:
                    raise ConfigError(f"mutations.exclude[{index}]: unknown mutation type {name!r}")
    generate = _registry_generate()
    if selected is None and generate is None:
        raise ConfigError("no mutators available: shieldstorm.storm.mutations.generate is missing")
    result: list[Mutation] = []
    for case in config.golden:
        golden_id = case.id or ""
        messages = case.conversation()
        if selected is not None:
            result.extend(
                generate_with(
                    selected,
                    golden_id,
                    messages,
                    seed=seed,
                    variants=spec.variants,
                    weights=spec.weights,
                    system_prompt=config.system_prompt,
                    canary=config.canary,
                )
            )
            continue
        kwargs: dict[str, Any] = {
            "seed": seed,
            "types": spec.types,
            "pack": spec.pack,
            "variants": spec.variants,
            "system_prompt": config.system_prompt,
            "canary": config.canary,
        }
        if spec.llm is not None:
            kwargs["llm"] = spec.llm
        mutations = list(generate(golden_id, messages, **kwargs))
        for mutation in mutations:
            if mutation.mutation_type in spec.exclude:
                continue
            override = spec.weights.get(mutation.mutation_type)
            result.append(mutation.model_copy(update={"weight": override}) if override else mutation)
    if not result:
        raise ConfigError("the configuration produced no mutations: check mutations.types, exclude and pack")
    return result
