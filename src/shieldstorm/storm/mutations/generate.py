"""`generate`: the mutations of one golden case, reproducible byte for byte from (seed, config)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shieldstorm.errors import ConfigError, InputError, ShieldStormError
from shieldstorm.storm.mutations import registry
from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator, stable_seed

if TYPE_CHECKING:
    from shieldstorm.storm.packs import Pack

MessagesLike = str | Sequence[Message | Mapping[str, Any]]


class MutatorError(ShieldStormError):
    """A mutator (usually a plugin) raised while mutating a golden case."""


def to_messages(messages: MessagesLike) -> list[Message]:
    """A golden case as messages: a plain string is one user message."""
    if isinstance(messages, str):
        return [Message(role="user", content=messages)]
    result: list[Message] = []
    for index, message in enumerate(messages):
        if isinstance(message, Message):
            result.append(message)
            continue
        try:
            result.append(Message.model_validate(dict(message)))
        except (ValidationError, TypeError, ValueError) as exc:
            detail = _first_error(exc)
            raise InputError(f"golden message {index} is not a valid {{role, content}} message: {detail}") from exc
    return result


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
    return str(exc)


def resolve_pack(pack: str | Pack | None) -> Pack | None:
    from shieldstorm.storm.packs import Pack, load_pack

    if pack is None or isinstance(pack, Pack):
        return pack
    return load_pack(pack)


def select_types(types: Sequence[str] | None, pack: Pack | None, known: Mapping[str, Mutator]) -> list[str]:
    """The mutation types to run, in a stable order; unknown names are a ConfigError."""
    if types is not None:
        selected = list(dict.fromkeys(types))
    elif pack is not None and pack.types:
        selected = list(dict.fromkeys(pack.types))
    else:
        selected = list(known)
    for name in selected:
        if name not in known:
            raise ConfigError(registry.unknown_type_message(name, dict(known)))
    return selected


def mutation_id(golden_id: str, mutation_type: str, variant: int, index: int, seed: int) -> str:
    material = "\x1f".join((golden_id, mutation_type, str(variant), str(index), str(seed)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def generate(
    golden_id: str,
    messages: MessagesLike,
    *,
    seed: int,
    types: Sequence[str] | None = None,
    pack: str | Pack | None = None,
    variants: int = 1,
    system_prompt: str | None = None,
    canary: str | None = None,
) -> list[Mutation]:
    """Mutations of one golden case.

    Each (type, variant) gets its own `random.Random` seeded from (seed, golden id, type, variant), so the
    output does not depend on which other types run, on process, platform or PYTHONHASHSEED. A type
    that does not apply (e.g. typos on an empty prompt) yields nothing; identical outputs of one type
    are kept once.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"seed must be an integer, got {seed!r}")
    if variants < 1:
        raise InputError(f"variants must be at least 1, got {variants}")
    golden = to_messages(messages)
    resolved = resolve_pack(pack)
    known = registry.all_mutators()
    selected = select_types(types, resolved, known)
    results: list[Mutation] = []
    for name in selected:
        mutator = known[name]
        params = resolved.params_for(name) if resolved is not None else {}
        weight = resolved.weights.get(name, mutator.default_weight) if resolved is not None else mutator.default_weight
        seen: set[str] = set()
        for variant in range(variants):
            ctx = MutationContext(
                rng=random.Random(stable_seed(seed, golden_id, name, variant)),
                params=params,
                pack=resolved.name if resolved is not None else None,
                system_prompt=system_prompt,
                canary=canary,
            )
            try:
                conversations = mutator.mutate(list(golden), ctx)
            except ShieldStormError:
                raise
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"
                raise MutatorError(f"mutator {name!r} failed on golden case {golden_id!r}: {detail}") from exc
            for index, conversation in enumerate(conversations):
                key = json.dumps([m.model_dump() for m in conversation], ensure_ascii=False, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                results.append(
                    Mutation(
                        id=mutation_id(golden_id, name, variant, index, seed),
                        mutation_type=name,
                        golden_id=golden_id,
                        variant=len(seen) - 1,
                        messages=list(conversation),
                        weight=weight,
                        description=mutator.description,
                        metadata=_metadata(mutator, ctx, resolved, canary),
                    )
                )
    return results


def _metadata(mutator: Mutator, ctx: MutationContext, pack: Pack | None, canary: str | None) -> dict[str, Any]:
    metadata = mutator.metadata()
    if pack is not None:
        metadata["pack"] = pack.name
        if pack.controls:
            metadata["controls"] = list(pack.controls)
    if canary:
        # A canary in the answer is a leak whatever the mutation was.
        metadata["canary"] = canary
    metadata.update(ctx.metadata)
    return metadata
