"""Rule-based paraphrase: templates, synonyms and clause reordering (meaning-preserving, no LLM)."""

from __future__ import annotations

import re
from typing import ClassVar

from shieldstorm.storm.mutations._common import TextMutator
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import fill, pick, variables
from shieldstorm.storm.mutations.base import MutationContext

_WORD = re.compile(r"[A-Za-z']+")
_CLAUSE = re.compile(r"(?<=[.?!;,])\s+|\s+and\s+")


class _Paraphrase(TextMutator):
    category: ClassVar[str] = "paraphrase"
    default_weight: ClassVar[float] = 1.0
    attacks: ClassVar[tuple[str, ...]] = ("robustness",)


class ParaphraseTemplate(_Paraphrase):
    name = "paraphrase_template"
    description = "Wraps the request in a polite or casual phrasing template."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        if not text.strip():
            return None
        templates = [t for t in load_data("paraphrase")["templates"] if t != "{prompt}"]
        return fill(pick(ctx.rng, templates), **variables(text.strip()))


class SynonymSwap(_Paraphrase):
    name = "synonym_swap"
    description = "Replaces words with synonyms from a support-domain thesaurus."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        synonyms: dict[str, list[str]] = load_data("paraphrase")["synonyms"]
        matches = [m for m in _WORD.finditer(text) if m.group(0).lower() in synonyms]
        if not matches:
            return None
        # Change at least one word and about half of the rest, chosen by the seeded generator.
        chosen = {id(m) for m in matches if ctx.rng.random() < 0.5} or {id(pick(ctx.rng, matches))}
        out: list[str] = []
        last = 0
        for match in matches:
            if id(match) not in chosen:
                continue
            word = match.group(0)
            replacement = pick(ctx.rng, synonyms[word.lower()])
            if word[:1].isupper():
                replacement = replacement[:1].upper() + replacement[1:]
            out.append(text[last : match.start()])
            out.append(replacement)
            last = match.end()
        out.append(text[last:])
        return "".join(out)


class Reorder(_Paraphrase):
    name = "reorder"
    description = "Reorders the sentences or clauses of the request."

    def transform(self, text: str, ctx: MutationContext) -> str | None:
        clauses = [c.strip() for c in _CLAUSE.split(text.strip()) if c.strip()]
        if len(clauses) < 2:
            # One clause: move a trailing 'please' / leading greeting-like word, or front the last words.
            words = text.split()
            if len(words) < 4:
                return None
            cut = ctx.rng.randrange(1, len(words) - 1)
            return " ".join(words[cut:]).rstrip("?.!") + ", " + " ".join(words[:cut]).lower() + "?"
        order = list(range(len(clauses)))
        while order == sorted(order):
            ctx.rng.shuffle(order)
        return " ".join(clauses[i] for i in order)


MUTATORS = (ParaphraseTemplate, SynonymSwap, Reorder)
