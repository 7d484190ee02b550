"""Normalised views of a text, each with an offset map back to the caller's original string.

Two families of view exist:

* the *raw* view (PII/secret patterns): NFKC per character (full-width digits become ASCII) and
  zero-width/bidi/format characters removed; case and spacing are kept;
* the *normalised* view (injection patterns): additionally lower-cased, diacritics removed,
  cross-script homoglyphs folded to ASCII (data/confusables.json), control characters removed and every
  whitespace run collapsed to one space. A *leetspeak* view applies data/leetspeak.json on top.

Views are built from segments so that mapping a view offset back is a binary search: an identity
segment maps character by character, a rewritten segment (e.g. "ﬁ" -> "fi", a whitespace run -> " ")
maps to its whole original range.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from functools import cache
from importlib import resources
from operator import itemgetter

import re2

from shieldstorm.detect.gates import Gate

# Python `re` is used here only with single character-class runs, which cannot backtrack; the pattern
# database itself never runs on `re`.
_RAW_SPECIAL = re.compile(r"[^\x00-\x7f]+")
# One gate pass (a tiny Hyperscan database, else an RE2 Set; one C call on bytes), not `re`, over every
# normalised view: index 0 = a word mixes letters with leetspeak characters, index 1 = the text talks
# about rot13 (exactly the substrings of `ROT13_HINTS`; a plain `in` test per hint cost six passes).
ROT13_HINTS = ("rot13", "rot-13", "rot 13", "rot_13", "caesar", "rotate each letter")
_NORM_SIGNALS = Gate(
    [
        r"[a-z][013456789@$!|+€]+[a-z]|\b[013456789@$|+€]+[a-z]|[a-z][013456789@$|+€]+\b",
        "|".join(re2.escape(h) for h in ROT13_HINTS),
    ]
)
# ASCII text goes through one bytes.translate (a 256-byte table in C, no per-character dict lookups):
# A-Z lower-cased, ASCII whitespace -> " ", the other control characters deleted.
_ASCII_WHITESPACE = b"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_ASCII_NORM_TABLE = bytes(
    32 if i in _ASCII_WHITESPACE else i + 32 if 65 <= i <= 90 else i for i in range(256)
)
_ASCII_NORM_DELETE = bytes(i for i in [*range(0x00, 0x20), 0x7F] if i not in _ASCII_WHITESPACE)


_FIRST = itemgetter(0)


class View:
    """A derived string plus the segment table that maps its offsets to the original text.

    The segment table is built lazily: most texts produce no finding, and only a finding needs its
    offsets mapped back, so the common path stays a handful of C-level string operations.
    """

    __slots__ = ("_build", "_segments", "_utf8", "_v_starts", "identity", "text")

    def __init__(
        self,
        text: str,
        segments: list[tuple[int, int, int, int]] | None = None,
        build: Callable[[], list[tuple[int, int, int, int]]] | None = None,
        utf8: bytes | None = None,
        *,
        identity: bool = False,
    ) -> None:
        self.text = text
        # every offset maps to itself (one segment (0, n, 0, n)): to_original needs no search
        self.identity = identity
        self._segments = segments  # (v_start, v_end, o_start, o_end)
        self._build = build
        self._v_starts: list[int] | None = None
        self._utf8 = utf8  # the UTF-8 encoding of `text`, when the builder already had it

    def utf8(self) -> bytes:
        """`text` encoded as UTF-8 (what the matchers scan), computed once."""
        if self._utf8 is None:
            self._utf8 = self.text.encode("utf-8")
        return self._utf8

    @property
    def segments(self) -> list[tuple[int, int, int, int]]:
        if self._segments is None:
            assert self._build is not None
            self._segments = self._build()
            self._build = None
        return self._segments

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        if self.identity and 0 <= start <= end <= len(self.text):
            return start, end  # what the one identity segment maps them to
        segments = self.segments
        if self._v_starts is None:
            self._v_starts = list(map(_FIRST, segments))
        return self._map_start(segments, start), self._map_end(segments, end)

    def _map_start(self, segments: list[tuple[int, int, int, int]], v: int) -> int:
        if not segments:
            return 0
        assert self._v_starts is not None
        i = max(bisect_right(self._v_starts, v) - 1, 0)
        vs, ve, os_, oe = segments[i]
        if v >= ve:
            return oe
        if v < vs:
            return os_
        if ve - vs == oe - os_:
            return os_ + (v - vs)
        return os_

    def _map_end(self, segments: list[tuple[int, int, int, int]], v: int) -> int:
        if not segments or v <= 0:
            return 0
        assert self._v_starts is not None
        i = max(bisect_right(self._v_starts, v - 1) - 1, 0)
        vs, ve, os_, oe = segments[i]
        if v <= vs:
            return os_
        if v > ve:
            # The match ends inside the gap after this segment: a collapsed whitespace run that
            # begins at `oe` in the original.
            return oe + 1
        if ve - vs == oe - os_:
            return os_ + (v - vs)
        return oe


def identity_view(text: str) -> View:
    return View(text, [(0, len(text), 0, len(text))], identity=True)


class _Builder:
    """Accumulates view pieces, merging adjacent 1:1 pieces into one identity segment."""

    __slots__ = ("length", "parts", "segments")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.segments: list[tuple[int, int, int, int]] = []
        self.length = 0

    def add(self, piece: str, o_start: int, o_end: int) -> None:
        if not piece:
            return
        n = len(piece)
        identity = n == o_end - o_start
        if identity and self.segments:
            vs, ve, os_, oe = self.segments[-1]
            if ve - vs == oe - os_ and oe == o_start:
                self.segments[-1] = (vs, ve + n, os_, o_end)
                self.parts.append(piece)
                self.length += n
                return
        self.segments.append((self.length, self.length + n, o_start, o_end))
        self.parts.append(piece)
        self.length += n

    def last_char(self) -> str:
        return self.parts[-1][-1] if self.parts else " "

    def build(self) -> View:
        return View("".join(self.parts), self.segments)


def _is_removed(ch: str) -> bool:
    # Format characters (zero-width space/joiners, bidi controls, BOM, soft hyphen) and lone surrogates.
    return unicodedata.category(ch) in ("Cf", "Cs") or ch in "\u180e\u034f"


@cache
def _confusables() -> dict[str, str]:
    raw = resources.files("shieldstorm.detect.data").joinpath("confusables.json").read_text("utf-8")
    table: dict[str, str] = json.loads(raw)
    return table


@cache
def leet_table() -> dict[int, str]:
    raw = resources.files("shieldstorm.detect.data").joinpath("leetspeak.json").read_text("utf-8")
    mapping: dict[str, str] = json.loads(raw)
    return {ord(k): v for k, v in mapping.items()}


class _IdentityDefault(dict[int, str]):
    """str.translate table: characters without an entry map to themselves (cached on first use, so
    translate does not raise and swallow a KeyError per distinct character)."""

    def __missing__(self, key: int) -> str:
        value = chr(key)
        self[key] = value
        return value


@cache
def _leet_translate() -> _IdentityDefault:
    table = _IdentityDefault({i: chr(i) for i in range(128)})
    table.update(leet_table())
    return table


@cache
def fold_raw_char(ch: str) -> str:
    """Width folding for PII/secret matching: NFKC when it yields one character (full-width digits and
    letters, mathematical alphanumerics), never an expansion ("″" stays, it does not become "′′")."""
    if _is_removed(ch):
        return ""
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


@cache
def fold_norm_char(ch: str) -> str:
    """Fold one character for the injection view; whitespace becomes " " (collapsed by the caller)."""
    if _is_removed(ch):
        return ""
    if ch.isspace():
        return " "
    if ord(ch) < 0x20 or ch == "\x7f" or unicodedata.category(ch) == "Cc":
        return ""
    confusables = _confusables()
    out: list[str] = []
    for c in unicodedata.normalize("NFKC", ch).lower():
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.category(d) in ("Mn", "Me"):
                continue  # diacritics: "ïgnörë" reads as "ignore"
            d = confusables.get(d, d)
            out.append(" " if d.isspace() else d)
    return "".join(out).lower()


class _RunTable(dict[int, str]):
    """str.translate table that folds unseen characters on first use (so runs translate in C)."""

    def __init__(self, fold: object) -> None:
        super().__init__()
        self._fold = fold

    def __missing__(self, key: int) -> str:
        value: str = self._fold(chr(key))  # type: ignore[operator]
        self[key] = value
        return value


_RAW_TABLE = _RunTable(fold_raw_char)
_NORM_TABLE = _RunTable(fold_norm_char)


def _one_to_one(text: str, table: _RunTable) -> bool:
    """True when every distinct character of `text` folds to exactly one character."""
    return all(len(table[ord(c)]) == 1 for c in set(text))


def raw_view(text: str) -> View:
    """The view PII/secret patterns see: NFKC per character, zero-width and bidi controls removed."""
    if text.isascii():
        return identity_view(text)
    folded = text.translate(_RAW_TABLE)
    if len(folded) == len(text) and _one_to_one(text, _RAW_TABLE):
        return View(folded, [(0, len(text), 0, len(text))], identity=True)
    return View(folded, build=lambda: _raw_segments(text, folded))


def _raw_segments(text: str, expected: str) -> list[tuple[int, int, int, int]]:
    b = _Builder()
    pos = 0
    for m in _RAW_SPECIAL.finditer(text):
        s, e = m.span()
        b.add(text[pos:s], pos, s)
        for i, c in enumerate(m.group()):
            b.add(_RAW_TABLE[ord(c)], s + i, s + i + 1)
        pos = e
    b.add(text[pos:], pos, len(text))
    assert "".join(b.parts) == expected
    return b.segments


def normalized_view(text: str) -> View:
    """The view injection patterns see: lower-case, folded, controls removed, whitespace runs -> " ",
    no leading/trailing space. A few C-level passes; the offset map is built only if a finding needs it."""
    if text.isascii():
        data = text.encode("ascii").translate(_ASCII_NORM_TABLE, _ASCII_NORM_DELETE)
        folded_bytes = data
        if b"  " in data:
            # Split at double spaces and rejoin: one C-level search pass. A `bytes.replace` loop took
            # ~1.3 ms per 100k characters of prose (runs of three need a second pass) and `re.sub`
            # ~0.6 ms; this ~0.35 ms.
            data = b" ".join([p for p in [q.strip(b" ") for q in data.split(b"  ")] if p])
        else:
            data = data.strip(b" ")
        view_ascii = data.decode("ascii")

        def build_ascii() -> list[tuple[int, int, int, int]]:
            return _norm_segments(text, folded_bytes.decode("ascii"), view_ascii)

        return View(view_ascii, build=build_ascii, utf8=data)
    folded = text.translate(_NORM_TABLE)
    if "  " in folded:  # same collapse as the ASCII path
        view_text = " ".join([p for p in [q.strip(" ") for q in folded.split("  ")] if p])
    else:
        view_text = folded.strip(" ")
    return View(view_text, build=lambda: _norm_segments(text, folded, view_text))


# The ASCII view's fold as a per-character table, for the offset map of ASCII text whose controls were
# deleted. (_NORM_TABLE would turn "`" into "'" like the non-ASCII path does, and the map would not match
# the ASCII view: an AssertionError in any scan with a finding, e.g. "`\x14 ignore all previous ...".)
_ASCII_NORM_PIECES: dict[int, str] = {
    i: "" if i in _ASCII_NORM_DELETE else chr(_ASCII_NORM_TABLE[i]) for i in range(128)
}


def _norm_segments(text: str, folded: str, expected: str) -> list[tuple[int, int, int, int]]:
    if len(folded) != len(text) or not (text.isascii() or _one_to_one(text, _NORM_TABLE)):
        return _norm_segments_slow(text, expected, _ASCII_NORM_PIECES if text.isascii() else _NORM_TABLE)
    # 1:1 fold (the common case): identity segments between the space runs that were collapsed. The runs
    # are found with str.find (a C search for "  "; `re.finditer` over the text took 1.5x as long: ~0.35
    # against ~0.23 ms per 100k characters of prose, which has a run per ~130 characters).
    lead = len(folded) - len(folded.lstrip(" "))
    stop = len(folded.rstrip(" "))
    segs: list[tuple[int, int, int, int]] = []
    append = segs.append
    find = folded.find
    v = 0
    pos = lead
    s = find("  ", pos, stop)
    while s >= 0:
        e = s + 2
        while e < stop and folded[e] == " ":
            e += 1
        if s > pos:
            append((v, v + s - pos, pos, s))
            v += s - pos
        append((v, v + 1, s, e))
        v += 1
        pos = e
        s = find("  ", pos, stop)
    if stop > pos:
        append((v, v + stop - pos, pos, stop))
        v += stop - pos
    assert v == len(expected)
    return segs


def _norm_segments_slow(
    text: str, expected: str, table: dict[int, str] = _NORM_TABLE
) -> list[tuple[int, int, int, int]]:
    b = _Builder()
    for i, c in enumerate(text):
        piece = table[ord(c)]
        if not piece:
            continue
        for j, part in enumerate(piece.split(" ")):
            if j and b.parts and b.last_char() != " ":
                b.add(" ", i, i + 1)
            if part:
                b.add(part, i, i + 1)
    # A trailing space is not part of the view.
    if b.parts and b.last_char() == " ":
        b.parts[-1] = b.parts[-1][:-1]
        vs, ve, os_, oe = b.segments[-1]
        if ve - vs == 1:
            b.segments.pop()
        elif ve - vs == oe - os_:
            b.segments[-1] = (vs, ve - 1, os_, oe - 1)
        else:
            b.segments[-1] = (vs, ve - 1, os_, oe)
    assert "".join(b.parts) == expected, (expected, "".join(b.parts))
    return b.segments


def norm_signals(view: View) -> tuple[bool, bool]:
    """(a word mixes letters with leetspeak characters, the text mentions rot13/Caesar), from one
    RE2 Set pass over the normalised view's UTF-8 bytes."""
    hits = _NORM_SIGNALS.match(view.utf8())  # a failed pass answers both (fail closed)
    return 0 in hits, 1 in hits


def leet_view(view: View, encoded: bytes | None = None, *, mixed: bool | None = None) -> View | None:
    """The normalised view with leetspeak folded (same length, same offsets); None when no word mixes
    letters with leetspeak characters (so "4 apples!" does not cost a third scan). `mixed`: that
    answer, when the caller already has it from `norm_signals`."""
    if mixed is None:
        mixed = 0 in _NORM_SIGNALS.match(encoded if encoded is not None else view.utf8())
    if not mixed:
        return None
    folded = view.text.translate(_leet_translate())
    if folded == view.text:
        return None
    return View(folded, build=lambda: view.segments)


def fold_raw_pattern_text(source: str) -> str:
    """Fold the non-ASCII characters of a PII/secret regex like the raw view folds the text."""
    if source.isascii():
        return source
    out: list[str] = []
    for ch in source:
        c = ch if ch.isascii() else fold_raw_char(ch)
        out.append("\\" + c if c.isascii() and not ch.isascii() and not c.isalnum() and c != " " else c)
    return "".join(out)


def fold_pattern_text(source: str) -> str:
    """Fold the non-ASCII characters of an injection regex/literal exactly like the text is folded.

    ASCII is left alone (escapes such as \\S must keep their case; matching is caseless anyway).
    A folded character that is not alphanumeric is escaped so it cannot become a metacharacter.
    """
    if source.isascii():
        return source
    out: list[str] = []
    for ch in source:
        if ch.isascii():
            out.append(ch)
            continue
        for c in fold_norm_char(ch):
            out.append(c if c.isalnum() or not c.isascii() else "\\" + c if c != " " else " ")
    return "".join(out)
