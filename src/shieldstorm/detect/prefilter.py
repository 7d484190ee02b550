"""Cheaper Hyperscan prefilter expressions: an expression's tail, starting at its most distinctive literal.

Hyperscan is only the prefilter (RE2 confirms every hit with the exact expression), so the database may
hold any *superset* of an expression. Many injection expressions begin with common words followed by
a word gap, e.g. `\\b(?:your|all|the|my) (?:\\S+ ){0,1}?(?:responses|answers) (?:will|must) ...`: the
literal "the " fires every few bytes of English and each firing starts an automaton for the gap, so
those expressions kept the injection database busy on every sentence (about 10 MB/s on prose).

If R = A1 A2 ... An matches somewhere, then so does Ak ... An (the same text, a suffix of the match; an
assertion such as `\\b` sees the same surrounding characters). So the database gets, for each
top-level branch, the suffix that starts right after a gap, at the literal run that is the hardest to
hit by chance (longest, with rare punctuation such as "@" or "=" counting more than letters and
spaces). Unquantified groups are flattened first, so PII expressions such as the e-mail regex are cut
at "@" inside their `(?P<value>...)` group. Anything the splitter does not understand is left whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Literal sets larger than this are not expanded (the run ends there).
MAX_LITERALS = 512
# Runs at least this distinctive all look alike: the earliest one wins (keeps more of the expression,
# so fewer false candidates reach RE2).
SCORE_CAP = 12.0
# A cut must leave an anchor at least this distinctive: one- or two-character literals (a digit, "s=")
# fill Hyperscan's shared literal matcher with hits and slow down every expression in the database.
MIN_SCORE = 3.0
# An expression whose first literal run scores this much is left whole (its anchor rarely fires, and the
# whole expression gives RE2 fewer false candidates than any tail); otherwise the earliest run that
# scores this much is taken. A cut must also gain CUT_MARGIN: a tail of ordinary nouns ("rules",
# "answers") is not worth losing a head of ordinary verbs ("skip", "drop"). Tuned on the injection set:
# false candidates on 2,527 benign texts 1,567 (always the most distinctive run) -> 627.
STRONG_SCORE = 4.0
CUT_MARGIN = 2.0
_COMMON_PUNCTUATION = ".,'-:"


# One character that is not a fixed literal (".", "\\S", "[^a]"). It takes part in literal runs (so
# "don.?t follow" is still a run) but adds nothing to a run's score; only repeats end a run.
_WILDCARD = "\x00"
_ANY_CHAR = frozenset({_WILDCARD})


class _Unsupported(Exception):
    """Syntax the splitter does not handle; the expression is used whole."""


@dataclass(frozen=True, slots=True)
class _Atom:
    text: str  # source of the atom, quantifier included
    literals: frozenset[str] | None  # the strings it matches (see _WILDCARD), None for a repeat (a gap)
    zero_width: bool = False  # \\b, \\B, ^, $


def anchored_tail(source: str, *, drop_boundary: bool = False) -> str:
    """A superset of `source` for Hyperscan: each top-level branch cut to its most distinctive tail.

    `drop_boundary` also removes the leading boundary context of branches that keep a literal anchor
    (PII/secrets: `(?:^|[^0-9A-Za-z_+])\\+[1-9]...` costs 0.1 ms per 100k prose with its boundary group,
    nothing measurable without; all 42 such PII/secret branches: 0.89 -> 0.61 ms). Injection expressions
    keep theirs: there it saved nothing measurable and `\\b` before a verb keeps "act" from firing in
    "fact", i.e. keeps false candidates away from RE2."""
    try:
        return "|".join(_tail(branch, drop_boundary) for branch in _split_branches(source))
    except _Unsupported:
        return source


def _tail(branch: str, drop_boundary: bool) -> str:
    atoms = _parse(branch)
    start_score = _run_score(atoms, 0)
    best_k, best_score = 0, start_score
    if best_score >= STRONG_SCORE:
        # the expression already starts with a distinctive literal
        return _without_leading_boundary(atoms) if drop_boundary else branch
    for k in range(1, len(atoms)):
        before = atoms[k - 1]
        if before.literals is not None or before.zero_width:
            continue  # cut only right after a gap (a non-literal atom)
        score = _run_score(atoms, k)
        if score >= max(best_score + CUT_MARGIN, MIN_SCORE):
            best_k, best_score = k, score
            if score >= STRONG_SCORE:
                break  # the earliest strong anchor keeps the most of the expression
    if best_k == 0:
        return branch if start_score >= MIN_SCORE and not drop_boundary else _without_leading_boundary(atoms)
    return "".join(a.text for a in atoms[best_k:])


def _without_leading_boundary(atoms: list[_Atom]) -> str:
    """A branch with no literal to anchor on, minus its leading word-boundary context (`\\b`, `^`,
    `(?:^|[^0-9A-Za-z_])`). Hyperscan checks such a context by keeping a "just after a separator" state
    apart from an "inside a word" state, so its automaton flips state at every word of prose and can
    never skip ahead to the digits it is waiting for: the boundary of the NIR, phone and card numbers
    cost 0.2-0.25 ms per 100k characters each. RE2 confirms every hit with the whole expression."""
    k = 0
    while k < len(atoms) and (atoms[k].zero_width or _is_boundary_group(atoms[k].text)):
        k += 1
    return "".join(a.text for a in atoms[k:]) if k < len(atoms) else "".join(a.text for a in atoms)


def _is_boundary_group(text: str) -> bool:
    # `(?:^|[^...])` or `(?:^|[\\s,;:])`: start of text or one separator character, the explicit boundary
    # the pattern files use where `\\b` would be wrong (e.g. "+" or "." must not precede a number)
    return text.startswith("(?:^|[") and text.endswith("])") and text.count("]") == 1


@cache
def _common_words() -> frozenset[str]:
    raw = resources.files("shieldstorm.detect.data").joinpath("common_words.json").read_text("utf-8")
    return frozenset(json.loads(raw)["words"])


def _rarity(literal: str) -> float:
    """Roughly how seldom a literal occurs in ordinary text: its length, with a function word ("the",
    "your", "der") counting as half a character and rare punctuation ("@", "=") as four."""
    common = _common_words()
    score = 0.3 * literal.count(" ")
    for word in literal.split():
        if word.lower() in common:
            score += 0.5
            continue
        for c in word:
            if c == _WILDCARD:
                continue
            if c.isalnum():
                score += 1.0
            elif c in _COMMON_PUNCTUATION:
                score += 0.8
            else:
                score += 4.0
    return score


def _run_score(atoms: list[_Atom], k: int) -> float:
    """How distinctive the literal run starting at atom k is: the rarity of its weakest string."""
    acc: frozenset[str] = frozenset({""})
    for atom in atoms[k:]:
        if atom.zero_width:
            continue
        if atom.literals is None:
            break
        nxt = _product(acc, atom.literals)
        if nxt is None:
            break
        acc = nxt
    return min(SCORE_CAP, min(_rarity(x) for x in acc))


def _product(a: frozenset[str], b: frozenset[str]) -> frozenset[str] | None:
    if len(a) * len(b) > MAX_LITERALS:
        return None
    return frozenset(x + y for x in a for y in b)


# ---- a small splitter for the RE2/Hyperscan syntax the pattern files use ---------------------------


def _escape_end(s: str, i: int) -> int:
    if i + 1 >= len(s):
        raise _Unsupported("trailing backslash")
    c = s[i + 1]
    if c in "xpP" and i + 2 < len(s) and s[i + 2] == "{":
        close = s.find("}", i + 2)
        if close < 0:
            raise _Unsupported("escape")
        return close + 1
    if c == "x":
        return i + 4
    if c in "pP":
        return i + 3
    if c == "Q" or (c.isdigit() and c != "0"):
        raise _Unsupported("quoting or back-reference")
    return i + 2


def _class_end(s: str, i: int) -> int:
    j = i + 1
    if j < len(s) and s[j] == "^":
        j += 1
    if j < len(s) and s[j] == "]":
        j += 1
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
        elif s.startswith("[:", j):
            close = s.find(":]", j + 2)
            if close < 0:
                raise _Unsupported("POSIX class")
            j = close + 2
        elif c == "]":
            return j + 1
        else:
            j += 1
    raise _Unsupported("unterminated class")


def _structure(s: str, i: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, group depth after it) for every character from `i` that is neither inside an escape
    nor inside a character class: the one walk that group ends and top-level branches both need."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i = _escape_end(s, i)
            continue
        if c == "[":
            i = _class_end(s, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        yield i, c, depth
        i += 1


def _group_end(s: str, i: int) -> int:
    for j, c, depth in _structure(s, i):
        if c == ")" and depth == 0:
            return j + 1
    raise _Unsupported("unbalanced group")


def _quantifier_end(s: str, i: int) -> int:
    if i >= len(s):
        return i
    c = s[i]
    if c in "*+?":
        j = i + 1
    elif c == "{":
        close = s.find("}", i)
        lo, _, hi = (s[i + 1 : close] if close > 0 else "").partition(",")
        if not lo.isdigit() or not (hi == "" or hi.isdigit()):
            return i  # a literal brace
        j = close + 1
    else:
        return i
    if j < len(s) and s[j] in "?+":
        j += 1  # lazy / possessive
    return j


def _split_branches(s: str) -> list[str]:
    out: list[str] = []
    start = 0
    for i, c, depth in _structure(s):
        if c == "|" and depth == 0:
            out.append(s[start:i])
            start = i + 1
    out.append(s[start:])
    return out


def _class_literals(body: str) -> frozenset[str] | None:
    # A small positive class of plain characters such as [sz]; anything else is not a literal set.
    if body.startswith("^") or "-" in body.strip("-") or len(body) > 6:
        return None
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if body[i] == "\\":
            if i + 1 < len(body) and not body[i + 1].isalnum():
                chars.add(body[i + 1])
                i += 2
                continue
            return None
        chars.add(body[i])
        i += 1
    return frozenset(chars) or None


def _sequence_literals(atoms: list[_Atom]) -> frozenset[str] | None:
    acc: frozenset[str] | None = frozenset({""})
    for atom in atoms:
        if atom.zero_width:
            continue
        if atom.literals is None or acc is None:
            return None
        acc = _product(acc, atom.literals)
    return acc


def _group_literals(inner: str) -> frozenset[str] | None:
    found: set[str] = set()
    for branch in _split_branches(inner):
        lits = _sequence_literals(_parse(branch))
        if lits is None:
            return None
        found |= lits
        if len(found) > MAX_LITERALS:
            return None
    return frozenset(found)


def _parse(s: str) -> list[_Atom]:
    """The top-level atoms of one branch; unquantified single-branch groups are flattened."""
    atoms: list[_Atom] = []
    i = 0
    while i < len(s):
        c = s[i]
        literals: frozenset[str] | None
        zero_width = False
        if c == "\\":
            j = _escape_end(s, i)
            e = s[i + 1]
            if e in "bBAzZ":
                zero_width, literals = True, frozenset({""})
            elif j == i + 2 and not e.isalnum():
                literals = frozenset({e})
            else:
                literals = _ANY_CHAR  # \S, \d, \x41, \p{L}: one character
        elif c == "[":
            j = _class_end(s, i)
            literals = _class_literals(s[i + 1 : j - 1]) or _ANY_CHAR
        elif c == "(":
            j = _group_end(s, i)
            inner = s[i + 1 : j - 1]
            flattenable = True
            if inner.startswith("?:"):
                inner = inner[2:]
            elif inner.startswith("?P<"):
                inner = inner[inner.index(">") + 1 :]
            elif inner.startswith("?i:"):
                inner, flattenable = inner[3:], False  # keep the case flag with its contents
            elif inner.startswith("?"):
                raise _Unsupported("inline flags or look-around")
            if flattenable and _quantifier_end(s, j) == j and len(_split_branches(inner)) == 1:
                atoms.extend(_parse(inner))
                i = j
                continue
            literals = _group_literals(inner)
        elif c in "^$":
            j = i + 1
            zero_width, literals = True, frozenset({""})
        elif c == ".":
            j, literals = i + 1, _ANY_CHAR
        elif c in ")|":
            raise _Unsupported("stray metacharacter")
        else:
            j, literals = i + 1, frozenset({c})
        end = _quantifier_end(s, j)
        if end > j:
            if zero_width:
                raise _Unsupported("quantified assertion")
            quantifier = s[j:end]
            if quantifier[-1] in "?+" and len(quantifier) > 1:
                quantifier = quantifier[:-1]
            if literals is not None and quantifier in ("?", "{0,1}"):
                literals = literals | {""}
            elif quantifier not in ("{1}", "{1,1}"):
                literals = None
        atoms.append(_Atom(s[i:end], literals, zero_width))
        i = end
    return atoms
