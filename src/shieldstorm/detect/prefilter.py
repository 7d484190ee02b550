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

from dataclasses import dataclass

# Literal sets larger than this are not expanded (the run ends there).
MAX_LITERALS = 512
# Runs at least this distinctive all look alike: the earliest one wins (keeps more of the expression,
# so fewer false candidates reach RE2).
SCORE_CAP = 12.0
# A cut must leave an anchor at least this distinctive: one- or two-character literals (a digit, "s=")
# fill Hyperscan's shared literal matcher with hits and slow down every expression in the database.
MIN_SCORE = 3.0
_COMMON_PUNCTUATION = ".,'-:"


class _Unsupported(Exception):
    """Syntax the splitter does not handle; the expression is used whole."""


@dataclass(frozen=True, slots=True)
class _Atom:
    text: str  # source of the atom, quantifier included
    literals: frozenset[str] | None  # the exact strings it matches, None when not a small literal set
    zero_width: bool = False  # \\b, \\B, ^, $


def anchored_tail(source: str) -> str:
    """A superset of `source` for Hyperscan: each top-level branch cut to its most distinctive tail."""
    try:
        return "|".join(_tail(branch) for branch in _split_branches(source))
    except _Unsupported:
        return source


def _tail(branch: str) -> str:
    atoms = _parse(branch)
    best_k, best_score = 0, _run_score(atoms, 0)
    for k in range(1, len(atoms)):
        before = atoms[k - 1]
        if before.literals is not None or before.zero_width:
            continue  # cut only right after a gap (a non-literal atom)
        score = _run_score(atoms, k)
        if score > best_score and score >= MIN_SCORE:
            best_k, best_score = k, score
    if best_k == 0:
        return branch
    return "".join(a.text for a in atoms[best_k:])


def _rarity(literal: str) -> float:
    score = 0.0
    for c in literal:
        if c.isalnum():
            score += 1.0
        elif c == " ":
            score += 0.3
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


def _group_end(s: str, i: int) -> int:
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
            if depth == 0:
                return i + 1
        i += 1
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
    depth = start = i = 0
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
        elif c == "|" and depth == 0:
            out.append(s[start:i])
            start = i + 1
        i += 1
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
                literals = None
        elif c == "[":
            j = _class_end(s, i)
            literals = _class_literals(s[i + 1 : j - 1])
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
            j, literals = i + 1, None
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
