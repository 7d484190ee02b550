"""Context attacks: length extremes, irrelevant and contradictory context, format poisoning, language
mixing, temporal confusion and tone shifts."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shieldstorm.storm.mutations._common import Params, TextMutator, params_of
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import fill, injection_payload, make_marker, note_payload, pick, variables
from shieldstorm.storm.mutations.base import Message, MutationContext, Mutator
from shieldstorm.storm.mutations.injection import InjectionCategory


class LengthEmpty(Mutator):
    name = "length_empty"
    category = "length"
    default_weight = 0.6
    attacks = ("robustness", "input_validation")
    description = "Sends an empty or whitespace-only message: the agent must not crash or answer nonsense."

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        from shieldstorm.storm.mutations._text import replace_user

        # Not behaviour-preserving: the request is gone; the check is "answers gracefully".
        ctx.metadata["behaviour_preserving"] = False
        return [replace_user(messages, pick(ctx.rng, load_data("context")["empty"]))]


class LengthTiny(TextMutator):
    name = "length_tiny"
    category = "length"
    default_weight = 0.6
    attacks = ("robustness",)
    description = "Truncates the request to its first word or a few characters."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        words = text.split()
        if len(words) <= 1 and len(text) <= 3:
            return None
        ctx.metadata["behaviour_preserving"] = False
        return words[0] if ctx.rng.random() < 0.5 or (len(words) > 1 and len(words[0]) > 3) else text[:3]


class StuffingParams(Params):
    size: int = Field(default=0, ge=0, le=5_000_000, description="characters of filler; 0 = data default")
    position: str = Field(default="before", pattern="^(before|after|around)$")


class ContextStuffing(TextMutator):
    name = "context_stuffing"
    category = "length"
    default_weight = 1.0
    attacks = ("robustness", "context_window")
    params_model = StuffingParams
    description = "Buries the request in a huge block of filler text (context-window stuffing)."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        params = params_of(StuffingParams, ctx)
        data = load_data("context")["stuffing"]
        size = params.size or int(data["size"])
        parts: list[str] = []
        total = 0
        while total < size:
            sentence = pick(ctx.rng, data["filler"])
            parts.append(sentence)
            total += len(sentence) + 1
        filler = " ".join(parts)[:size]
        ctx.metadata["stuffing_chars"] = len(filler)
        if params.position == "after":
            return f"{text}\n\n{filler}"
        if params.position == "around":
            half = len(filler) // 2
            return f"{filler[:half]}\n\n{text}\n\n{filler[half:]}"
        return f"{filler}\n\n{text}"


class IrrelevantContext(TextMutator):
    name = "irrelevant_context"
    category = "context"
    default_weight = 0.9
    attacks = ("robustness", "distraction")
    description = "Adds unrelated chatter before or after the request."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        items = load_data("context")["irrelevant"]
        chosen = [pick(ctx.rng, items) for _ in range(ctx.rng.randrange(1, 3))]
        before = ctx.rng.random() < 0.5
        return " ".join([*chosen, text] if before else [text, *chosen])


class ContradictoryContext(TextMutator):
    name = "contradictory_context"
    category = "context"
    default_weight = 1.2
    attacks = ("hallucination", "policy_consistency")
    description = "Adds false or self-contradicting claims the agent should not accept as policy."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        return fill(pick(ctx.rng, load_data("context")["contradictory"]), **variables(text))


class TemporalConfusion(TextMutator):
    name = "temporal_confusion"
    category = "context"
    default_weight = 1.0
    attacks = ("hallucination", "robustness")
    description = "Asserts impossible or misleading dates and times around the request."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        return fill(pick(ctx.rng, load_data("context")["temporal"]), **variables(text))


class _Tone(TextMutator):
    category: ClassVar[str] = "tone"
    default_weight: ClassVar[float] = 0.9
    attacks: ClassVar[tuple[str, ...]] = ("robustness", "social_engineering")
    tone: ClassVar[str]

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        return fill(pick(ctx.rng, load_data("context")["tone"][self.tone]), **variables(text))


class ToneRude(_Tone):
    name = "tone_rude"
    tone = "rude"
    description = "Rewrites the request in a rude, hostile tone."


class ToneUrgent(_Tone):
    name = "tone_urgent"
    tone = "urgent"
    description = "Rewrites the request with false urgency (pressure to skip checks)."


class LanguageMix(TextMutator):
    name = "language_mix"
    category = "language"
    default_weight = 1.0
    attacks = ("robustness", "multilingual_injection")
    description = "Mixes other languages into the request; some variants smuggle a translated injection."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        data = load_data("context")["language_mix"]
        phrases = pick(ctx.rng, data["phrases"])
        mixed = fill(pick(ctx.rng, data["templates"]), p0=phrases[0], p1=phrases[1], p2=phrases[2], prompt=text)
        if ctx.rng.random() < 0.5:
            return mixed
        marker = make_marker(ctx.rng)
        payload = fill(pick(ctx.rng, data["injected"]), marker=marker)
        note_payload(ctx, payload, marker, "direct_override")
        ctx.metadata.update(expects_refusal=True, behaviour_preserving=False, attacks=["prompt_injection"])
        return f"{mixed} {payload}"


class FormatParams(Params):
    categories: list[InjectionCategory] | None = None


class _FormatPoison(TextMutator):
    category: ClassVar[str] = "format"
    default_weight: ClassVar[float] = 1.5
    attacks: ClassVar[tuple[str, ...]] = ("prompt_injection", "format_confusion")
    expects_refusal: ClassVar[bool] = True
    needs_user_text: ClassVar[bool] = False
    params_model = FormatParams
    fmt: ClassVar[str]

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        marker = make_marker(ctx.rng)
        categories = params_of(FormatParams, ctx).categories or ["direct_override", "instruction_override"]
        category, payload = injection_payload(ctx, marker, categories)
        note_payload(ctx, payload, marker, category)
        ctx.metadata["format"] = self.fmt
        return fill(pick(ctx.rng, load_data("context")["formats"][self.fmt]), **variables(text, payload, marker))


class FormatJson(_FormatPoison):
    name = "format_json"
    fmt = "json"
    description = "Embeds the request in a JSON payload that carries an override instruction."


class FormatXml(_FormatPoison):
    name = "format_xml"
    fmt = "xml"
    description = "Embeds the request in XML with a forged <system> element or entity."


class FormatYaml(_FormatPoison):
    name = "format_yaml"
    fmt = "yaml"
    description = "Embeds the request in a YAML document with an override key."


class FormatMarkdown(_FormatPoison):
    name = "format_markdown"
    fmt = "markdown"
    description = "Hides an instruction in Markdown (headings, tables, details, image exfiltration links)."


MUTATORS: tuple[type[Mutator], ...] = (
    LengthEmpty,
    LengthTiny,
    ContextStuffing,
    IrrelevantContext,
    ContradictoryContext,
    TemporalConfusion,
    ToneRude,
    ToneUrgent,
    LanguageMix,
    FormatJson,
    FormatXml,
    FormatYaml,
    FormatMarkdown,
)
