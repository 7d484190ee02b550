"""`generate`: the mutations of one golden case, reproducible byte for byte from (seed, config)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from shieldstorm.errors import ConfigError, InputError, ShieldStormError
from shieldstorm.storm.mutations import registry
from shieldstorm.storm.mutations._text import replace_user, user_prompt
from shieldstorm.storm.mutations.base import Message, Mutation, MutationContext, Mutator, stable_seed
from shieldstorm.storm.mutations.llm import LLMClient, LLMMutator, LLMSettings, as_settings

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


def select_types(
    types: Sequence[str] | None,
    pack: Pack | None,
    known: Mapping[str, object],
    default: Sequence[str] | None = None,
) -> list[str]:
    """The mutation types to run, in a stable order; unknown names are a ConfigError."""
    if isinstance(types, str):  # one name, not its characters
        types = [types]
    if types is not None:
        selected = list(dict.fromkeys(types))
    elif pack is not None and pack.types:
        selected = list(dict.fromkeys(pack.types))
    else:
        selected = list(default if default is not None else known)
    for name in selected:
        if name not in known:
            raise ConfigError(registry.unknown_type_message(name, dict(known)))
    return selected


def mutation_id(golden_id: str, mutation_type: str, variant: int, index: int, seed: int) -> str:
    material = "\x1f".join((golden_id, mutation_type, str(variant), str(index), str(seed)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Plan:
    golden_id: str
    golden: list[Message]
    seed: int
    pack: Pack | None
    variants: int
    system_prompt: str | None
    canary: str | None
    rule_types: list[tuple[str, Mutator]]
    llm_types: list[tuple[str, LLMMutator]]
    order: list[str]
    llm: LLMSettings | None

    def context(self, name: str, variant: int) -> MutationContext:
        return MutationContext(
            rng=random.Random(stable_seed(self.seed, self.golden_id, name, variant)),
            params=self.pack.params_for(name) if self.pack is not None else {},
            pack=self.pack.name if self.pack is not None else None,
            system_prompt=self.system_prompt,
            canary=self.canary,
        )

    def weight(self, name: str, default: float) -> float:
        return self.pack.weights.get(name, default) if self.pack is not None else default


def _plan(
    golden_id: str,
    messages: MessagesLike,
    seed: int,
    types: Sequence[str] | None,
    pack: str | Pack | None,
    variants: int,
    system_prompt: str | None,
    canary: str | None,
    llm: LLMSettings | BaseModel | Mapping[str, Any] | None,
) -> _Plan:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"seed must be an integer, got {seed!r}")
    if variants < 1:
        raise InputError(f"variants must be at least 1, got {variants}")
    settings = as_settings(llm)
    golden = to_messages(messages)
    resolved = resolve_pack(pack)
    known = registry.all_mutators()
    rules = {n: m for n, m in known.items() if not isinstance(m, LLMMutator)}
    llms = {n: m for n, m in known.items() if isinstance(m, LLMMutator)}
    # LLM types run by default only when an endpoint is configured; asking for one without it is an error.
    default = [*rules, *(llms if settings is not None else [])]
    order = select_types(types, resolved, known, default)
    missing = [name for name in order if name in llms and settings is None]
    if missing:
        raise ConfigError(f"mutation type {missing[0]!r} needs an LLM endpoint: configure llm (base_url, model)")
    return _Plan(
        golden_id=golden_id,
        golden=golden,
        seed=seed,
        pack=resolved,
        variants=variants,
        system_prompt=system_prompt,
        canary=canary,
        rule_types=[(n, rules[n]) for n in order if n in rules],
        llm_types=[(n, llms[n]) for n in order if n in llms],
        order=order,
        llm=settings,
    )


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
    llm: LLMSettings | BaseModel | Mapping[str, Any] | None = None,
) -> list[Mutation]:
    """Mutations of one golden case.

    Each (type, variant) gets its own `random.Random` seeded from (seed, golden id, type, variant), so the
    output does not depend on which other types run, on process, platform or PYTHONHASHSEED. A type
    that does not apply (e.g. typos on an empty prompt) yields nothing; identical outputs of one type
    are kept once. With `llm` configured the LLM-backed types run too (inside an event loop use
    `agenerate`).
    """
    plan = _plan(golden_id, messages, seed, types, pack, variants, system_prompt, canary, llm)
    if not plan.llm_types:
        return _assemble(plan, {name: _rule_mutations(plan, name, m) for name, m in plan.rule_types})
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_agenerate(plan))
    # Called from async code (e.g. at the start of a run): do the LLM calls on a private loop in a worker
    # thread. This blocks the caller's loop until done; async callers should prefer `agenerate`.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storm-llm") as pool:
        return pool.submit(asyncio.run, _agenerate(plan)).result()


async def agenerate(
    golden_id: str,
    messages: MessagesLike,
    *,
    seed: int,
    types: Sequence[str] | None = None,
    pack: str | Pack | None = None,
    variants: int = 1,
    system_prompt: str | None = None,
    canary: str | None = None,
    llm: LLMSettings | BaseModel | Mapping[str, Any] | None = None,
) -> list[Mutation]:
    """`generate` for async callers; LLM requests go out concurrently over one pooled session."""
    return await _agenerate(_plan(golden_id, messages, seed, types, pack, variants, system_prompt, canary, llm))


async def _agenerate(plan: _Plan) -> list[Mutation]:
    produced = {name: _rule_mutations(plan, name, m) for name, m in plan.rule_types}
    if plan.llm_types:
        if plan.llm is None:  # guarded in _plan; kept for type narrowing
            raise ConfigError("LLM-backed mutation types need an LLM endpoint")
        async with LLMClient(plan.llm) as client:
            results = await asyncio.gather(*(_llm_mutations(plan, client, n, m) for n, m in plan.llm_types))
        produced.update({name: result for (name, _), result in zip(plan.llm_types, results, strict=True)})
    return _assemble(plan, produced)


def _assemble(plan: _Plan, produced: Mapping[str, list[Mutation]]) -> list[Mutation]:
    return [mutation for name in plan.order for mutation in produced.get(name, [])]


def _rule_mutations(plan: _Plan, name: str, mutator: Mutator) -> list[Mutation]:
    results: list[Mutation] = []
    seen: set[str] = set()
    for variant in range(plan.variants):
        ctx = plan.context(name, variant)
        try:
            conversations = mutator.mutate(list(plan.golden), ctx)
        except ShieldStormError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            raise MutatorError(f"mutator {name!r} failed on golden case {plan.golden_id!r}: {detail}") from exc
        for index, conversation in enumerate(conversations):
            key = json.dumps([m.model_dump() for m in conversation], ensure_ascii=False, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            results.append(
                Mutation(
                    id=mutation_id(plan.golden_id, name, variant, index, plan.seed),
                    mutation_type=name,
                    golden_id=plan.golden_id,
                    variant=len(seen) - 1,
                    messages=list(conversation),
                    weight=plan.weight(name, mutator.default_weight),
                    description=mutator.description,
                    metadata=_metadata(mutator.metadata(), ctx, plan.pack, plan.canary),
                )
            )
    return results


async def _llm_mutations(plan: _Plan, client: LLMClient, name: str, mutator: LLMMutator) -> list[Mutation]:
    prompt = user_prompt(plan.golden)
    if prompt is None or not prompt.strip():
        return []
    contexts = [plan.context(name, variant) for variant in range(plan.variants)]
    requests = [mutator.prompt(prompt, ctx) for ctx in contexts]
    seeds = [stable_seed(plan.seed, plan.golden_id, name, v) % 2**31 for v in range(plan.variants)]
    texts = await asyncio.gather(*(client.complete(r, s) for r, s in zip(requests, seeds, strict=True)))
    results: list[Mutation] = []
    seen: set[str] = set()
    for variant, (ctx, text) in enumerate(zip(contexts, texts, strict=True)):
        if text in seen:
            continue
        seen.add(text)
        results.append(
            Mutation(
                id=mutation_id(plan.golden_id, name, variant, 0, plan.seed),
                mutation_type=name,
                golden_id=plan.golden_id,
                variant=len(seen) - 1,
                messages=replace_user(plan.golden, text),
                weight=plan.weight(name, mutator.default_weight),
                description=mutator.description,
                metadata=_metadata(mutator.metadata(), ctx, plan.pack, plan.canary),
            )
        )
    return results


def _metadata(base: dict[str, Any], ctx: MutationContext, pack: Pack | None, canary: str | None) -> dict[str, Any]:
    metadata = dict(base)
    if pack is not None:
        metadata["pack"] = pack.name
        if pack.controls:
            metadata["controls"] = list(pack.controls)
    if canary:
        # A canary in the answer is a leak whatever the mutation was.
        metadata["canary"] = canary
    metadata.update(ctx.metadata)
    return metadata
