"""The built-in injection pattern files: schema, coverage, written for the normalised view, RE2 syntax.

Hyperscan compilation of the whole built-in database, and every example/counter-example under both
engines, are exercised through the real Detector by tests/detect/test_pattern_examples.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import re2
import yaml

from shieldstorm.detect.schema import Pattern, PatternFile

INJECTION_DIR = Path(__file__).resolve().parents[2] / "src" / "shieldstorm" / "detect" / "patterns" / "injection"
CATEGORIES = {
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
}


def _load() -> list[Pattern]:
    patterns: list[Pattern] = []
    for path in sorted(INJECTION_DIR.glob("*.yaml")):
        patterns.extend(PatternFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8"))).patterns)
    return patterns


PATTERNS = _load()


def _regex(expression_regex: str | None, literal: str | None) -> str:
    return expression_regex if expression_regex is not None else re.escape(literal or "")


def test_ids_are_unique_and_prefixed() -> None:
    ids = [p.id for p in PATTERNS]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("PI-") for i in ids)


def test_every_pattern_is_an_injection_in_a_known_category() -> None:
    assert {p.kind.value for p in PATTERNS} == {"injection"}
    assert {p.category for p in PATTERNS} <= CATEGORIES


def test_every_pattern_has_examples_and_hard_negatives() -> None:
    for p in PATTERNS:
        assert p.examples, p.id
        assert p.counter_examples, p.id


def test_regexes_are_written_for_the_normalised_lowercase_view() -> None:
    # The detector matches caseless against a lower-cased, whitespace-collapsed view; an upper-case
    # literal letter or a literal newline would be a sign the author expected the raw text.
    for p in PATTERNS:
        for e in p.expressions:
            text = e.regex or e.literal or ""
            stripped = re.sub(r"\\[A-Za-z]", "", text)
            assert not re.search(r"[A-Z]", stripped), p.id
            assert "\n" not in text, p.id


def test_coverage_meets_the_issue() -> None:
    # Issue 2: at least 110 injection/jailbreak patterns in 10 categories, English plus >= 5 other languages.
    assert len(PATTERNS) >= 120
    per_category = {c: sum(p.category == c for p in PATTERNS) for c in CATEGORIES}
    assert all(n >= 5 for n in per_category.values()), per_category
    other_languages = {lang for p in PATTERNS for lang in p.languages} - {"en"}
    assert len(other_languages) >= 5, other_languages


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_pattern_compiles_in_re2(pattern: Pattern) -> None:
    options = re2.Options()
    options.case_sensitive = False
    for e in pattern.expressions:
        re2.compile(_regex(e.regex, e.literal), options)
