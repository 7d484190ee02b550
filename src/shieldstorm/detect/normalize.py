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
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Python `re` is used here only with single character-class runs, which cannot backtrack; the pattern
# database itself never runs on `re`.
_RAW_SPECIAL = re.compile(r"[^\x00-\x7f]+")
# Non-ASCII runs, control/whitespace runs other than one plain space.
_NORM_SPECIAL = re.compile(r"[^\x00-\x7f]+|[\x00-\x20\x7f]{2,}|[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class View:
    """A derived string plus the segment table that maps its offsets to the original text."""

    text: str
    v_starts: tuple[int, ...]
    segments: tuple[tuple[int, int, int, int], ...]  # (v_start, v_end, o_start, o_end)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        return self._map_start(start), self._map_end(end)

    def _map_start(self, v: int) -> int:
        if not self.segments:
            return v
        i = max(bisect_right(self.v_starts, v) - 1, 0)
        vs, ve, os_, oe = self.segments[i]
        if v >= ve:
            return oe
        if ve - vs == oe - os_:
            return os_ + (v - vs)
        return os_

    def _map_end(self, v: int) -> int:
        if not self.segments or v <= 0:
            return 0 if self.segments else v
        i = max(bisect_right(self.v_starts, v - 1) - 1, 0)
        vs, ve, os_, oe = self.segments[i]
        if ve - vs == oe - os_:
            return os_ + min(v - vs, ve - vs)
        return oe


def identity_view(text: str) -> View:
    return View(text, (0,), ((0, len(text), 0, len(text)),))


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
        return View("".join(self.parts), tuple(s[0] for s in self.segments), tuple(self.segments))


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


@cache
def fold_raw_char(ch: str) -> str:
    if _is_removed(ch):
        return ""
    return unicodedata.normalize("NFKC", ch)


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


def raw_view(text: str) -> View:
    """The view PII/secret patterns see: NFKC per character, zero-width and bidi controls removed."""
    if text.isascii():
        return identity_view(text)
    b = _Builder()
    pos = 0
    for m in _RAW_SPECIAL.finditer(text):
        s, e = m.span()
        b.add(text[pos:s], pos, s)
        run = m.group()
        folded = run.translate(_RAW_TABLE)
        if len(folded) == len(run) and all(len(_RAW_TABLE[ord(c)]) == 1 for c in run):
            b.add(folded, s, e)
        else:
            for i, c in enumerate(run):
                b.add(_RAW_TABLE[ord(c)], s + i, s + i + 1)
        pos = e
    b.add(text[pos:], pos, len(text))
    return b.build()


def normalized_view(text: str) -> View:
    """The view injection patterns see (lower-case, folded, whitespace collapsed)."""
    b = _Builder()
    pos = 0
    for m in _NORM_SPECIAL.finditer(text):
        s, e = m.span()
        if pos < s:
            _add_ascii(b, text, pos, s)
        run = m.group()
        if run.isascii():
            # Whitespace/control run: at most one space.
            first_ws = next((i for i, c in enumerate(run) if c.isspace()), -1)
            if first_ws >= 0 and b.last_char() != " ":
                b.add(" ", s + first_ws, e)
        else:
            folded = run.translate(_NORM_TABLE)
            if (
                len(folded) == len(run)
                and " " not in folded
                and all(len(_NORM_TABLE[ord(c)]) == 1 for c in run)
            ):
                b.add(folded, s, e)
            else:
                for i, c in enumerate(run):
                    piece = _NORM_TABLE[ord(c)]
                    if piece == " " and b.last_char() == " ":
                        continue
                    b.add(piece, s + i, s + i + 1)
        pos = e
    if pos < len(text):
        _add_ascii(b, text, pos, len(text))
    return b.build()


def _add_ascii(b: _Builder, text: str, s: int, e: int) -> None:
    # Printable ASCII with single spaces only; skip a leading space that would double the previous one.
    if text[s] == " " and b.last_char() == " " and b.parts:
        s += 1
        if s >= e:
            return
    b.add(text[s:e].lower(), s, e)


def leet_view(view: View) -> View | None:
    """The normalised view with leetspeak folded (same length, same offsets); None when unchanged."""
    folded = view.text.translate(leet_table())
    if folded == view.text:
        return None
    return View(folded, view.v_starts, view.segments)


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
