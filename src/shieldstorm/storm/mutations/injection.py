"""Prompt-injection insertion (prefix, suffix, middle) from the Storm red-team corpus.

Snippets live in `storm/packs/corpus/injection.yaml`, keyed by the detection engine's injection
categories; a pack may restrict `categories`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from shieldstorm.storm.mutations._common import Params, TextMutator, params_of
from shieldstorm.storm.mutations._text import injection_payload, make_marker, note_payload
from shieldstorm.storm.mutations.base import MutationContext

InjectionCategory = Literal[
    "direct_override",
    "role_manipulation",
    "jailbreak_persona",
    "context_injection",
    "instruction_override",
    "system_prompt_leak",
    "output_manipulation",
    "multi_turn",
    "encoding_bypass",
    "advanced_evasion",
]


class InjectionParams(Params):
    categories: list[InjectionCategory] | None = None


class _Injection(TextMutator):
    category: ClassVar[str] = "injection"
    default_weight: ClassVar[float] = 2.0
    attacks: ClassVar[tuple[str, ...]] = ("prompt_injection",)
    expects_refusal: ClassVar[bool] = True
    needs_user_text: ClassVar[bool] = False
    params_model = InjectionParams
    position: ClassVar[str]

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        marker = make_marker(ctx.rng)
        category, snippet = injection_payload(ctx, marker, params_of(InjectionParams, ctx).categories)
        note_payload(ctx, snippet, marker, category)
        ctx.metadata["position"] = self.position
        if self.position == "prefix":
            return f"{snippet}\n{text}".strip()
        if self.position == "suffix":
            return f"{text}\n{snippet}".strip()
        words = text.split(" ")
        cut = ctx.rng.randrange(0, len(words) + 1)
        return " ".join([*words[:cut], snippet, *words[cut:]]).strip()


class InjectionPrefix(_Injection):
    name = "injection_prefix"
    position = "prefix"
    description = "Puts an injection snippet before the request."


class InjectionSuffix(_Injection):
    name = "injection_suffix"
    position = "suffix"
    description = "Appends an injection snippet after the request."


class InjectionMiddle(_Injection):
    name = "injection_middle"
    position = "middle"
    description = "Inserts an injection snippet between two words of the request."


MUTATORS = (InjectionPrefix, InjectionSuffix, InjectionMiddle)
