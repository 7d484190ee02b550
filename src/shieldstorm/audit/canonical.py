"""Canonical JSON (RFC 8785-like) so that one event always has exactly one byte encoding.

Rules: object keys sorted by their UTF-16 code units (as RFC 8785 says), no insignificant whitespace,
UTF-8 output, strings escaped as by ECMAScript's JSON.stringify (short escapes, lower-case \\u00xx),
NaN and infinities rejected, integers written exactly. Floats use Python's shortest repr with the
exponent normalised (`1e-07` -> `1e-7`); integral floats below 1e21 are written as integers, as
RFC 8785 does. Only JSON types are accepted: dict (str keys), list/tuple, str, int, float, bool, None.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from shieldstorm.errors import InputError

_encode_string = json.encoder.encode_basestring  # C-accelerated, escapes like JSON.stringify
_EXPONENT = re.compile(r"e([+-])0*(\d)")


class CanonicalJSONError(InputError):
    """The value cannot be encoded canonically (NaN, infinity, non-string key, unsupported type)."""


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise CanonicalJSONError("canonical JSON cannot encode NaN or infinity")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return _EXPONENT.sub(r"e\1\2", repr(value))


def _encode(value: Any, out: list[str]) -> None:
    # bool before int: bool is a subclass of int.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalJSONError(f"canonical JSON object keys must be strings, got {type(key).__name__}")
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise CanonicalJSONError(f"canonical JSON cannot encode a value of type {type(value).__name__}")


# The C encoder gives the same bytes as _encode whenever every key is ASCII (then code point order = UTF-16 order)
# and every float prints without an exponent and is not integral (then repr() is already canonical).
# Built once and called directly: json.JSONEncoder.encode() would rebuild the C encoder object on every call.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_slow_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _unsupported(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# arguments: markers, default, encoder, indent, key separator, item separator, sort_keys, skipkeys, allow_nan
_c_iterencode = (
    _c_make_encoder(None, _unsupported, _encode_string, None, ":", ",", True, False, False) if _c_make_encoder else None
)


def _fast_encode(value: Any) -> str:
    if _c_iterencode is None:  # pragma: no cover - CPython always has the C accelerator
        return _slow_encode(value)
    return "".join(_c_iterencode(value, 0))


def _float_ok(item: float) -> bool:
    # finite, non-integral, >= 1e-4 in magnitude: repr() has no exponent (non-integral floats are < 2**52)
    return abs(item) >= 1e-4 and not item.is_integer() and item == item and abs(item) != math.inf


def _fast_path_ok(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            # one pass over the members: scalars are checked here, only containers go on the stack
            for key, member in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                member_kind = type(member)
                if member_kind is str or member_kind is int or member_kind is bool or member is None:
                    continue
                if member_kind is float:
                    if not _float_ok(member):
                        return False
                else:
                    stack.append(member)
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is float:
            if not _float_ok(item):
                return False
        else:
            return False
    return True


def _fast_path_ok_for(value: Any, trusted_keys: frozenset[str]) -> bool:
    # A top-level object whose `trusted_keys` hold plain strings or None: only the other members need checking.
    if type(value) is not dict:
        return _fast_path_ok(value)
    for key, item in value.items():
        if key in trusted_keys:
            if item is not None and type(item) is not str:
                return False
        elif type(key) is not str or not key.isascii() or not _fast_path_ok(item):
            return False
    return True


def canonical_json(value: Any, *, trusted_keys: frozenset[str] = frozenset()) -> bytes:
    """Encode `value` canonically as UTF-8 bytes; raises CanonicalJSONError on values JSON cannot carry.

    `trusted_keys`: top-level keys (ASCII) whose values are known to be str or None; a speed hint, the output is the
    same with or without it.
    """
    if _fast_path_ok_for(value, trusted_keys) if trusted_keys else _fast_path_ok(value):
        try:
            return _fast_encode(value).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalJSONError("canonical JSON cannot encode a lone surrogate") from exc
    out: list[str] = []
    _encode(value, out)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("canonical JSON cannot encode a lone surrogate") from exc
