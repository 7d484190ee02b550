"""Surface noise: typos, casing, whitespace and invisible characters, homoglyphs, leetspeak.

These keep the request's meaning: a robust agent answers them like the golden prompt.
"""

from __future__ import annotations

import random
from typing import ClassVar

from pydantic import Field

from shieldstorm.storm.mutations._common import Params, TextMutator, params_of
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import pick
from shieldstorm.storm.mutations.base import MutationContext


class NoiseParams(Params):
    rate: float = Field(default=0.06, gt=0, le=1, description="share of eligible characters to change")


def _positions(text: str, rng: random.Random, rate: float, eligible: str = "alpha") -> list[int]:
    """Sorted distinct indexes of eligible characters to change; at least one when any is eligible."""
    candidates = [i for i, ch in enumerate(text) if (ch.isalpha() if eligible == "alpha" else not ch.isspace())]
    if not candidates:
        return []
    count = max(1, round(len(candidates) * rate))
    return sorted(rng.sample(candidates, min(count, len(candidates))))


class _NoiseMutator(TextMutator):
    category: ClassVar[str] = "noise"
    default_weight: ClassVar[float] = 0.8
    attacks: ClassVar[tuple[str, ...]] = ("robustness",)
    params_model = NoiseParams


class TypoAdjacent(_NoiseMutator):
    name = "typo_adjacent"
    description = "Replaces letters with a neighbouring key on a QWERTY keyboard."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        adjacent: dict[str, str] = load_data("noise")["keyboard_adjacent"]
        chars = list(text)
        changed = False
        for i in _positions(text, ctx.rng, params_of(NoiseParams, ctx).rate):
            lower = chars[i].lower()
            if lower in adjacent:
                replacement = pick(ctx.rng, adjacent[lower])
                chars[i] = replacement.upper() if chars[i].isupper() else replacement
                changed = True
        return "".join(chars) if changed else None


class CharDrop(_NoiseMutator):
    name = "char_drop"
    description = "Drops letters, as a hurried typist does."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        drop = set(_positions(text, ctx.rng, params_of(NoiseParams, ctx).rate))
        return "".join(ch for i, ch in enumerate(text) if i not in drop) if drop else None


class CharSwap(_NoiseMutator):
    name = "char_swap"
    description = "Swaps adjacent letters inside words (transpositions)."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        chars = list(text)
        for i in _positions(text, ctx.rng, params_of(NoiseParams, ctx).rate):
            if i + 1 < len(chars) and chars[i + 1].isalpha() and chars[i] != chars[i + 1]:
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)


class CharDouble(_NoiseMutator):
    name = "char_double"
    description = "Doubles letters (sticky keys)."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        double = set(_positions(text, ctx.rng, params_of(NoiseParams, ctx).rate))
        return "".join(ch * 2 if i in double else ch for i, ch in enumerate(text)) if double else None


class Casing(_NoiseMutator):
    name = "casing"
    description = "Changes letter case: upper, lower, alternating, title or random."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        style = pick(ctx.rng, ("upper", "lower", "alternating", "title", "random"))
        if style == "upper":
            return text.upper()
        if style == "lower":
            return text.lower()
        if style == "title":
            return text.title()
        if style == "alternating":
            return "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(text))
        return "".join(ch.upper() if ctx.rng.random() < 0.5 else ch.lower() for ch in text)


class WhitespaceNoise(_NoiseMutator):
    name = "whitespace_zero_width"
    description = "Inserts extra spaces, tabs, newlines, no-break spaces and zero-width characters."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        data = load_data("noise")
        out: list[str] = []
        rate = max(params_of(NoiseParams, ctx).rate * 3, 0.1)
        for ch in text:
            out.append(ch)
            roll = ctx.rng.random()
            if ch == " " and roll < rate * 2:
                out[-1] = pick(ctx.rng, data["whitespace"])
            elif ch.isalpha() and roll < rate:
                out.append(pick(ctx.rng, data["zero_width"]))
        result = "".join(out)
        if result == text:  # short text: still add one invisible character so the type always applies
            result = text[: len(text) // 2] + pick(ctx.rng, data["zero_width"]) + text[len(text) // 2 :]
        # Leading/trailing padding: many agents do not strip their input.
        return str(pick(ctx.rng, data["padding_before"])) + result + str(pick(ctx.rng, data["padding_after"]))


class Homoglyph(_NoiseMutator):
    name = "homoglyph"
    description = "Replaces Latin letters with look-alike Cyrillic, Greek or fullwidth characters."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        table: dict[str, list[str]] = load_data("noise")["homoglyphs"]
        chars = list(text)
        rate = max(params_of(NoiseParams, ctx).rate * 3, 0.15)
        eligible = [i for i, ch in enumerate(chars) if ch in table]
        if not eligible:
            return None
        count = max(1, round(len(eligible) * rate))
        for i in sorted(ctx.rng.sample(eligible, min(count, len(eligible)))):
            chars[i] = pick(ctx.rng, table[chars[i]])
        return "".join(chars)


class Leetspeak(_NoiseMutator):
    name = "leetspeak"
    description = "Writes letters as digits and symbols (e -> 3, o -> 0, s -> 5)."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        table: dict[str, list[str]] = load_data("noise")["leet"]
        rate = max(params_of(NoiseParams, ctx).rate * 8, 0.5)
        out = [
            pick(ctx.rng, table[ch.lower()]) if ch.lower() in table and ctx.rng.random() < rate else ch for ch in text
        ]
        return "".join(out)


MUTATORS = (TypoAdjacent, CharDrop, CharSwap, CharDouble, Casing, WhitespaceNoise, Homoglyph, Leetspeak)
