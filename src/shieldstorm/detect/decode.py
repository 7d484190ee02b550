"""Find embedded encoded payloads (base64, hex, URL-encoding, rot13) and decode them for a rescan.

Only candidates that decode to mostly printable UTF-8 text are returned; the caller bounds the
depth, the number of candidates and the total decoded size.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import re2

from shieldstorm.detect.gates import Gate
from shieldstorm.detect.normalize import ROT13_HINTS

# Linear-time RE2 scans for candidate tokens (the alternation order picks the most specific first).
_CANDIDATE_SOURCE = (
    r"(?P<hexesc>(?:\\x[0-9A-Fa-f]{2}){4,})"
    r"|(?P<hexsep>(?:(?:0x)?[0-9A-Fa-f]{2}[ :,]){7,}(?:0x)?[0-9A-Fa-f]{2})"
    r"|(?P<url>(?:[^\s%]{0,40}%[0-9A-Fa-f]{2}){3,}[^\s%]{0,40})"
    r"|(?P<b64>[A-Za-z0-9+/_-]{MIN,}={0,2})"
)


# Group numbers of _CANDIDATE_SOURCE (checked against the compiled names in `_candidates`): the `re2`
# wrapper rebuilds its name -> number table on every `m.group(name)`, ~2 us per candidate for three names.
_HEXESC, _HEXSEP, _URL, _B64 = 1, 2, 3, 4


@functools.cache
def _candidates(min_length: int) -> tuple[Any, Any]:
    """(finditer regex, a one-expression gate on the UTF-8 bytes)."""
    source = _CANDIDATE_SOURCE.replace("MIN", str(min_length))
    finder = re2.compile(source)
    assert finder.groupindex == {"hexesc": _HEXESC, "hexsep": _HEXSEP, "url": _URL, "b64": _B64}
    return finder, Gate([source])


_HEX_DIGITS = "0123456789abcdefABCDEF"
_NON_HEX = re2.compile(r"[^0-9A-Fa-f]|0x")


def _hex_only(body: str) -> bool:
    """`^(?:[0-9A-Fa-f]{2})+$` without a regex call: non-empty, even length, nothing left once the hex
    digits are stripped from both ends (so every character is one)."""
    return bool(body) and len(body) % 2 == 0 and not body.strip(_HEX_DIGITS)


def rot13_hinted(normalized: str) -> bool:
    """Does the (lower-cased, normalised) text talk about rot13? Plain substring tests, no regex."""
    return any(h in normalized for h in ROT13_HINTS)


@dataclass(frozen=True, slots=True)
class Payload:
    start: int
    end: int
    encoding: str
    text: str


def _printable(text: str) -> bool:
    if len(text) < 4:
        return False
    good = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in text if c.isalpha())
    return good >= 0.9 * len(text) and letters >= 0.3 * len(text)


def _utf8(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _printable(text) else None


def _from_hex(token: str) -> str | None:
    digits = _NON_HEX.sub("", token.replace("\\x", ""))
    if len(digits) % 2:
        return None
    try:
        return _utf8(binascii.unhexlify(digits))
    except (binascii.Error, ValueError):
        return None


def _from_b64(token: str) -> tuple[str, str] | None:
    body = token.rstrip("=")
    if len(body) >= 16 and _hex_only(body):
        decoded = _from_hex(body)
        if decoded is not None:
            return "hex", decoded
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    altchars = b"-_" if ("-" in body or "_" in body) else b"+/"
    try:
        raw = base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None
    decoded = _utf8(raw)
    return ("base64", decoded) if decoded is not None else None


def find_payloads(
    text: str,
    *,
    min_length: int,
    limit: int,
    rot13: str,
    hinted: bool = False,
    encoded: bytes | None = None,
    max_chars: int | None = None,
    oversize: list[tuple[int, int]] | None = None,
) -> list[Payload]:
    """Decodable payloads in `text`, in order, at most `limit`. `hinted`: the text mentions rot13.
    Tokens that could not decode to at most `max_chars` characters are not decoded at all; their spans go to
    `oversize`, so the caller can tell that something was left uninspected."""
    out: list[Payload] = []
    if limit <= 0:
        return out
    finder, gate = _candidates(min_length)
    # A failed gate pass answers "maybe": the exact finder below decides.
    if gate.match(encoded if encoded is not None else text.encode("utf-8")):
        # Every supported encoding needs at least one input character per output character.
        # ASCII text is searched as its bytes: same offsets, and the `re2` wrapper neither re-encodes the
        # text nor maps byte offsets back to characters for every candidate.
        subject: str | bytes = encoded if encoded is not None and text.isascii() else text
        _scan_candidates(finder, subject, limit, out, None if max_chars is None else max_chars * 4, oversize)
    if rot13 == "always" or (rot13 == "hint" and hinted):
        out.append(Payload(0, len(text), "rot13", codecs.decode(text, "rot13")))
    return out[:limit]


def _scan_candidates(
    finder: Any, subject: str | bytes, limit: int, out: list[Payload], max_token: int | None,
    oversize: list[tuple[int, int]] | None,
) -> None:
    """`subject`: the text, or the bytes of an ASCII text (whose offsets are the same)."""
    for m in finder.finditer(subject):
        s, e = m.span()
        if max_token is not None and e - s > max_token:
            if oversize is not None:
                oversize.append((s, e))
            continue
        raw = m.group()
        token: str = raw.decode("ascii") if isinstance(raw, bytes) else raw
        if m.start(_HEXESC) >= 0 or m.start(_HEXSEP) >= 0:
            decoded = _from_hex(token)
            if decoded is not None:
                out.append(Payload(s, e, "hex", decoded))
        elif m.start(_URL) >= 0:
            try:
                decoded_url: str | None = unquote(token, errors="strict")
            except UnicodeDecodeError:
                decoded_url = None
            if decoded_url is not None and decoded_url != token:
                out.append(Payload(s, e, "url", decoded_url))
        else:
            got = _from_b64(token)
            if got is not None:
                out.append(Payload(s, e, got[0], got[1]))
        if len(out) >= limit:
            return

