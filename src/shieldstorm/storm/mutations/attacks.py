"""Jailbreak-style attacks: role-play personas, forged system/assistant turns, chat-template and
special tokens, and multi-turn setups that spring the attack at the end."""

from __future__ import annotations

from pydantic import Field

from shieldstorm.storm.mutations._common import Params, TextMutator, params_of
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import (
    default_text,
    fill,
    history,
    injection_payload,
    make_marker,
    note_payload,
    pick,
    replace_user,
    user_prompt,
    variables,
)
from shieldstorm.storm.mutations.base import Message, MutationContext, Mutator
from shieldstorm.storm.mutations.injection import InjectionCategory


class ScenarioParams(Params):
    """Packs add domain-specific scenarios; `{prompt}` and `{marker}` placeholders are filled in."""

    scenarios: list[str] | None = None
    extra_scenarios: list[str] = Field(default_factory=list)


class PayloadParams(Params):
    categories: list[InjectionCategory] | None = None


_OVERRIDE: list[InjectionCategory] = ["direct_override", "instruction_override", "system_prompt_leak"]


class RoleplayPersona(TextMutator):
    name = "roleplay_persona"
    category = "jailbreak"
    default_weight = 2.0
    attacks = ("jailbreak", "system_prompt_leak")
    expects_refusal = True
    needs_user_text = False
    params_model = ScenarioParams
    description = "Wraps the request in a role-play or persona jailbreak (DAN, grandma, movie script, ...)."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(ScenarioParams, ctx)
        scenarios = [*(params.scenarios or load_data("attacks")["roleplay"]["scenarios"]), *params.extra_scenarios]
        marker = make_marker(ctx.rng)
        scenario = pick(ctx.rng, scenarios)
        note_payload(ctx, scenario.split("{prompt")[0].strip(), marker)
        return fill(scenario, **variables(text, marker=marker, canary=ctx.canary or ""))


class FakeSystemTurn(TextMutator):
    name = "fake_system_turn"
    category = "context"
    default_weight = 1.8
    attacks = ("prompt_injection", "role_confusion")
    expects_refusal = True
    needs_user_text = False
    params_model = PayloadParams
    description = "Forges a system turn inside the user message with chat-template tokens (<|im_start|>, [INST])."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        marker = make_marker(ctx.rng)
        category, payload = injection_payload(ctx, marker, params_of(PayloadParams, ctx).categories or _OVERRIDE)
        note_payload(ctx, payload, marker, category)
        template = pick(ctx.rng, load_data("attacks")["fake_system"]["templates"])
        return fill(template, **variables(text, payload, marker)).strip()


class FakeAssistantTurn(Mutator):
    name = "fake_assistant_turn"
    category = "context"
    default_weight = 1.8
    attacks = ("prompt_injection", "role_confusion")
    expects_refusal = True
    params_model = PayloadParams
    description = "Adds a forged assistant turn that 'already agreed' to the attack, as a real message or inline."

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        prompt = user_prompt(messages) or ""
        data = load_data("attacks")["fake_assistant"]
        marker = make_marker(ctx.rng)
        category, payload = injection_payload(ctx, marker, params_of(PayloadParams, ctx).categories or _OVERRIDE)
        note_payload(ctx, payload, marker, category)
        values = variables(prompt, payload, marker)
        if ctx.rng.random() < 0.5:
            ctx.metadata["form"] = "inline"
            return [replace_user(messages, fill(pick(ctx.rng, data["inline"]), **values))]
        ctx.metadata["form"] = "message"
        forged = [
            *history(messages),
            Message(role="user", content=prompt or default_text("user_prompt")),
            Message(role="assistant", content=fill(pick(ctx.rng, data["turns"]), **values)),
            Message(role="user", content=fill(pick(ctx.rng, data["followups"]), **values).strip()),
        ]
        return [forged]


class SpecialTokens(TextMutator):
    name = "special_tokens"
    category = "context"
    default_weight = 1.2
    attacks = ("prompt_injection", "tokenizer")
    expects_refusal = False
    needs_user_text = False
    params_model = PayloadParams
    description = "Sprinkles raw special tokens (<|endoftext|>, </s>, [INST], <|eot_id|>) around the request."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        data = load_data("attacks")["special_tokens"]
        template = pick(ctx.rng, data["templates"])
        tokens = "".join(pick(ctx.rng, data["tokens"]) for _ in range(ctx.rng.randrange(1, 4)))
        payload = ""
        if "{payload}" in template:
            marker = make_marker(ctx.rng)
            category, payload = injection_payload(ctx, marker, params_of(PayloadParams, ctx).categories or _OVERRIDE)
            note_payload(ctx, payload, marker, category)
            ctx.metadata.update(expects_refusal=True, behaviour_preserving=False)
        return fill(template, tokens=tokens, **variables(text, payload))


class MultiTurnSetup(Mutator):
    name = "multi_turn_setup"
    category = "multi_turn"
    default_weight = 2.0
    attacks = ("prompt_injection", "multi_turn", "system_prompt_leak", "pii_leak")
    expects_refusal = True
    description = "A conversation that sets up a rule, role or story first and springs the attack in a later turn."

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        prompt = user_prompt(messages) or default_text("user_prompt")
        script = pick(ctx.rng, load_data("attacks")["multi_turn"]["scripts"])
        marker = make_marker(ctx.rng)
        values = variables(prompt, marker=marker)
        turns = [Message(role=turn["role"], content=fill(turn["content"], **values)) for turn in script]
        note_payload(ctx, turns[-1].content, marker, "multi_turn")
        ctx.metadata["turns"] = len(turns)
        return [[*history(messages), *turns]]


MUTATORS: tuple[type[Mutator], ...] = (
    RoleplayPersona,
    FakeSystemTurn,
    FakeAssistantTurn,
    SpecialTokens,
    MultiTurnSetup,
)
