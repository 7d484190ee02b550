"""The Storm-side red-team corpus is keyed by the detection engine's injection categories (contract 1)."""

from __future__ import annotations

from typing import get_args

from shieldstorm.storm.mutations import generate
from shieldstorm.storm.mutations._data import load_corpus
from shieldstorm.storm.mutations.injection import InjectionCategory

CONTRACT_CATEGORIES = {
    "direct_override", "role_manipulation", "jailbreak_persona", "context_injection", "instruction_override",
    "system_prompt_leak", "output_manipulation", "multi_turn", "encoding_bypass", "advanced_evasion",
}  # fmt: skip


def test_corpus_has_every_category_and_only_those() -> None:
    corpus = load_corpus()
    assert set(corpus) == CONTRACT_CATEGORIES == set(get_args(InjectionCategory))
    for category, snippets in corpus.items():
        assert len(snippets) >= 8, category
        assert len(set(snippets)) == len(snippets), category
        assert all("{marker}" in s for s in snippets), category


def test_category_restriction_draws_only_from_that_category() -> None:
    from shieldstorm.storm.packs import Pack

    for category in sorted(CONTRACT_CATEGORIES):
        pack = Pack(name="one", params={"injection_prefix": {"categories": [category]}})
        mutations = generate("g", "hello", seed=3, types=["injection_prefix"], pack=pack, variants=6)
        assert {m.metadata["injection_category"] for m in mutations} == {category}
        snippets = {s.replace("{marker}", m.metadata["marker"]) for m in mutations for s in load_corpus()[category]}
        assert all(m.metadata["payload"] in snippets for m in mutations)
