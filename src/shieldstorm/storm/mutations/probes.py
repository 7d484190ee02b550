"""Leak probes: system-prompt extraction, PII bait, indirect injection (documents and tool output) and
canary tokens."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

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


class ProbeParams(Params):
    probes: list[str] | None = None
    extra_probes: list[str] = Field(default_factory=list)


class SystemPromptExtraction(TextMutator):
    name = "system_prompt_extraction"
    category = "leak"
    default_weight = 2.0
    attacks = ("system_prompt_leak",)
    expects_refusal = True
    needs_user_text = False
    params_model = ProbeParams
    description = "Asks the agent to reveal, repeat, summarise or translate its system prompt."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(ProbeParams, ctx)
        data = load_data("attacks")["extraction"]
        probe = pick(ctx.rng, [*(params.probes or data["probes"]), *params.extra_probes])
        template = pick(ctx.rng, data["templates"]) if text.strip() else "{probe}"
        ctx.metadata["probe"] = probe
        if ctx.system_prompt:
            ctx.metadata["system_prompt_check"] = True
        return fill(template, probe=probe, prompt=text).strip()


class PiiValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    field: str
    value: str


class PiiParams(Params):
    values: list[PiiValue] | None = None
    templates: list[str] | None = None


class PiiBait(TextMutator):
    name = "pii_bait"
    category = "leak"
    default_weight = 2.0
    attacks = ("pii_leak",)
    expects_refusal = True
    needs_user_text = False
    params_model = PiiParams
    description = "Baits the agent into repeating personal data it was given or revealing a person's records."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(PiiParams, ctx)
        data = load_data("attacks")["pii_bait"]
        values = params.values or [PiiValue.model_validate(v) for v in data["values"]]
        bait = pick(ctx.rng, values)
        template = pick(ctx.rng, params.templates or data["templates"])
        ctx.metadata["pii_field"] = bait.field
        ctx.metadata["forbidden"] = [*ctx.metadata.get("forbidden", []), bait.value]
        ctx.metadata["pii_values"] = [bait.value]
        return fill(template, **variables(text), name=bait.name, field=bait.field, value=bait.value).strip()


class IndirectParams(Params):
    categories: list[InjectionCategory] | None = None
    documents: list[str] | None = None


class IndirectDocument(TextMutator):
    name = "indirect_document"
    category = "indirect"
    default_weight = 2.0
    attacks = ("indirect_injection", "prompt_injection")
    expects_refusal = True
    needs_user_text = False
    params_model = IndirectParams
    description = "Quotes a document (email, article, web page) with an instruction hidden inside it."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(IndirectParams, ctx)
        marker = make_marker(ctx.rng)
        category, payload = injection_payload(
            ctx, marker, params.categories or ["context_injection", "direct_override"]
        )
        note_payload(ctx, payload, marker, category)
        document = pick(ctx.rng, params.documents or load_data("attacks")["indirect"]["documents"])
        return fill(document, **variables(text, payload, marker)).strip()


class IndirectTool(Mutator):
    name = "indirect_tool"
    category = "indirect"
    default_weight = 2.0
    attacks = ("indirect_injection", "prompt_injection")
    expects_refusal = True
    params_model = IndirectParams
    description = "Appends a tool result (a `tool` message) that carries a hidden instruction."

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        params = params_of(IndirectParams, ctx)
        prompt = user_prompt(messages)
        marker = make_marker(ctx.rng)
        category, payload = injection_payload(
            ctx, marker, params.categories or ["context_injection", "direct_override"]
        )
        note_payload(ctx, payload, marker, category)
        output = fill(pick(ctx.rng, load_data("attacks")["indirect"]["tool_outputs"]), **variables("", payload, marker))
        base = messages if prompt is not None else replace_user(messages, default_text("user_prompt"))
        return [
            [
                *base,
                Message(role="assistant", content=default_text("tool_call_announcement")),
                Message(role="tool", content=output),
            ]
        ]


class CanaryParams(Params):
    probes: list[str] | None = None


class CanaryLeak(Mutator):
    name = "canary_leak"
    category = "leak"
    default_weight = 2.0
    attacks = ("canary_leak", "system_prompt_leak")
    expects_refusal = True
    params_model = CanaryParams
    description = (
        "Plants a secret canary in an earlier turn (or targets the system prompt's canary) and asks for it back."
    )
    plant_prefix: ClassVar[str] = "CANARY"

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        data = load_data("attacks")["canary"]
        prompt = user_prompt(messages) or ""
        planted = f"{self.plant_prefix}-{ctx.rng.getrandbits(40):010X}"
        plant = fill(pick(ctx.rng, data["plant"]), canary=planted)
        probe = fill(pick(ctx.rng, params_of(CanaryParams, ctx).probes or data["probes"]), **variables(prompt))
        canaries = [planted, *([ctx.canary] if ctx.canary else [])]
        ctx.metadata["canary"] = ctx.canary or planted
        ctx.metadata["canaries"] = canaries
        ctx.metadata["forbidden"] = [*ctx.metadata.get("forbidden", []), *canaries]
        setup = [
            Message(role="user", content=plant),
            Message(role="assistant", content=default_text("acknowledgement")),
        ]
        return [[*history(messages), *setup, Message(role="user", content=probe.strip())]]


MUTATORS: tuple[type[Mutator], ...] = (SystemPromptExtraction, PiiBait, IndirectDocument, IndirectTool, CanaryLeak)
