"""Find embedded encoded payloads (base64, hex, URL-encoding, rot13) and decode them for a rescan.

Only candidates that decode to mostly printable UTF-8 text are returned; the caller bounds the
depth, the number of candidates and the total decoded size.
"""

from __future__ import annotations

import base64
import binascii
import codecs
from dataclasses import dataclass
from urllib.parse import unquote

import re2

# Linear-time RE2 scans for candidate tokens (the alternation order picks the most specific first).
_CANDIDATES = re2.compile(
    r"(?P<hexesc>(?:\\x[0-9A-Fa-f]{2}){4,})"
    r"|(?P<hexsep>(?:(?:0x)?[0-9A-Fa-f]{2}[ :,]){7,}(?:0x)?[0-9A-Fa-f]{2})"
    r"|(?P<url>(?:[^\s%]{0,40}%[0-9A-Fa-f]{2}){3,}[^\s%]{0,40})"
    r"|(?P<b64>[A-Za-z0-9+/_-]{12,}={0,2})"
)
_HEX_ONLY = re2.compile(r"^(?:[0-9A-Fa-f]{2})+$")
_NON_HEX = re2.compile(r"[^0-9A-Fa-f]|0x")
_ROT13_HINT = re2.compile(r"(?i)rot.?13|caesar|rotate each letter")


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
    if _HEX_ONLY.match(body) and len(body) >= 16:
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


def find_payloads(text: str, *, min_length: int, limit: int, rot13: str) -> list[Payload]:
    """Decodable payloads in `text`, in order, at most `limit`."""
    out: list[Payload] = []
    if limit <= 0:
        return out
    for m in _CANDIDATES.finditer(text):
        token = m.group()
        if len(token) < min_length and m.group("url") is None:
            continue
        s, e = m.span()
        if m.group("hexesc") is not None or m.group("hexsep") is not None:
            decoded = _from_hex(token)
            if decoded is not None:
                out.append(Payload(s, e, "hex", decoded))
        elif m.group("url") is not None:
            decoded_url = unquote(token, errors="strict") if _url_ok(token) else None
            if decoded_url is not None and decoded_url != token:
                out.append(Payload(s, e, "url", decoded_url))
        else:
            got = _from_b64(token)
            if got is not None:
                out.append(Payload(s, e, got[0], got[1]))
        if len(out) >= limit:
            return out
    if rot13 == "always" or (rot13 == "hint" and _ROT13_HINT.search(text) is not None):
        out.append(Payload(0, len(text), "rot13", codecs.decode(text, "rot13")))
    return out[:limit]


def _url_ok(token: str) -> bool:
    try:
        unquote(token, errors="strict")
    except UnicodeDecodeError:
        return False
    return True
