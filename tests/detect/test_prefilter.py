"""The Hyperscan prefilter expressions (anchored tails) are supersets of the exact expressions."""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldstorm.detect.loader import load_pattern_set
from shieldstorm.detect.matcher import _hs_source
from shieldstorm.detect.normalize import normalized_view, raw_view
from shieldstorm.detect.prefilter import anchored_tail


def test_common_words_and_gap_are_cut_off() -> None:
    source = r"\b(?:your|all|the) (?:\S+ ){0,1}?(?:responses|answers) (?:will|must) obey"
    assert anchored_tail(source) == r"(?:responses|answers) (?:will|must) obey"


def test_cut_inside_an_unquantified_value_group() -> None:
    email = r"(?:^|[^A-Za-z0-9._%+-])(?P<value>[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+\.[A-Za-z]{2,})\b"
    assert anchored_tail(email) == r"@[A-Za-z0-9-]+\.[A-Za-z]{2,}\b"


def test_each_top_level_branch_is_cut_separately() -> None:
    source = r"\bit (?:\S+ ){0,2}?forbidden words|\bthe (?: \S+){0,3} leetspeak format|\bplain (?:\S+ )?words"
    assert anchored_tail(source) == r"forbidden words| leetspeak format|\bplain (?:\S+ )?words"


def test_short_anchors_and_good_starts_are_left_whole() -> None:
    # a one-digit anchor would flood Hyperscan's literal matcher: keep the whole expression, minus only
    # its leading boundary (a state split at every word of prose, see the next test)
    assert anchored_tail(r"\b[A-Z9]{5}\d[0156]\d[0-3]\d\b") == r"[A-Z9]{5}\d[0156]\d[0-3]\d\b"
    # the start is distinctive enough (a single "." inside it does not end the literal run)
    assert anchored_tail(r"\bdisregard (?:\S+ ){0,3}?rules") == r"\bdisregard (?:\S+ ){0,3}?rules"
    whole = r"\b(?:skip|don.?t follow) (?:\S+ ){0,3}?rules"
    assert anchored_tail(whole) == whole
    # a tail of ordinary words is not worth losing a head of ordinary words
    assert anchored_tail(r"\b(?:put|add) (?:\S+ ){0,3}?words\b") == r"\b(?:put|add) (?:\S+ ){0,3}?words\b"


def test_leading_boundary_of_an_unanchored_branch_is_dropped() -> None:
    phone = r"(?:^|[^0-9A-Za-z_+.-])(?P<value>\d{3}[.-]\d{4})\b"
    assert anchored_tail(phone) == r"\d{3}[.-]\d{4}\b"
    assert anchored_tail(r"\b(?P<value>[12378] ?\d{2})\b") == r"[12378] ?\d{2}\b"
    # a branch led by a distinctive literal keeps its boundary (Hyperscan checks it only on a literal hit)
    assert anchored_tail(r"\bpassport\b ?\d{9}") == r"\bpassport\b ?\d{9}"


def test_drop_boundary_also_strips_anchored_branches() -> None:
    # the PII/secret database (drop_boundary=True) loses every leading boundary context; injection keeps
    # those of branches led by a literal
    plus = r"(?:^|[^0-9A-Za-z_+])(?P<value>\+[1-9]\d{0,3})\b"
    assert anchored_tail(plus) == plus
    assert anchored_tail(plus, drop_boundary=True) == r"\+[1-9]\d{0,3}\b"
    assert anchored_tail(r"\bpassport\b ?\d{9}", drop_boundary=True) == r"passport\b ?\d{9}"
    # a separator group that is not negated is a boundary too
    assert anchored_tail(r"(?:^|[\s,;:])(?P<value>[A-Z][0-9] [0-9][A-Z]{2})\b") == r"[A-Z][0-9] [0-9][A-Z]{2}\b"


def test_unsupported_syntax_is_left_whole() -> None:
    for source in (r"(?i)the \S+ answers", r"(a)\S+\1bcdef", r"the \S+ (?=answers)", "the [unclosed"):
        assert anchored_tail(source) == source


# A small grammar of the constructs the pattern files use; the tail of any concatenation/alternation of
# them must match wherever the whole expression matches.
_ATOMS = [
    r"\b",
    "ab",
    "ba ",
    "(?:ab|b a|aab)",
    r"\S+",
    r"\S*",
    " ",
    r"(?:\S+ ){0,2}?",
    r"(?: \S+){0,3}",
    "[ab]",
    "[^a]",
    "b?",
    "(?:ab )?",
    "(?P<value>ab+a)",
    "a{2,}",
    ".",
    "(?:a|bb)+",
    "$",
    "^",
    "(?:ba|(?:ab|a b) ?)",
    "baab",
    "a@b",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=7), min_size=1, max_size=3),
    st.lists(st.text(alphabet="ab @", max_size=24), min_size=1, max_size=8),
)
def test_tail_is_a_superset(branches: list[list[str]], texts: list[str]) -> None:
    source = "|".join("".join(b) for b in branches)
    full_rx = re2.compile(source)
    for tail in (anchored_tail(source), anchored_tail(source, drop_boundary=True)):
        tail_rx = re2.compile(tail)
        for text in texts:
            if full_rx.search(text):
                assert tail_rx.search(text), (source, tail, text)


def test_builtin_tails_match_wherever_the_expression_matches() -> None:
    pset = load_pattern_set()
    for expr in pset.expressions:
        pattern = pset.patterns[expr.pattern_id]
        tail = re2.compile(("(?i)" if expr.caseless or expr.view == "norm" else "") + _hs_source(expr))
        for example in (*pattern.examples, *pattern.counter_examples):
            view = normalized_view(example) if expr.view == "norm" else raw_view(example)
            if expr.regex.search(view.text):
                assert tail.search(view.text), (expr.pattern_id, _hs_source(expr), example)
