"""JSON hashed the way OPA hashes bundle files, so our `.signatures.json` verifies OPA-built bundles and back.

OPA decodes a JSON file with numbers kept as their literal text (`json.Number`), then walks the value:
object keys sorted byte-wise, no whitespace, and each primitive encoded by Go's `encoding/json` with HTML
escaping off. That differs from RFC 8785 (numbers are not normalised, keys are not UTF-16 ordered), so the
audit log's canonical encoder cannot be reused here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shieldstorm.errors import InputError


class _Number(str):
    """A JSON number kept as the literal text it was written with."""


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _go_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _reject_constant(name: str) -> Any:
    raise InputError(f"JSON constant {name} is not valid JSON")


def loads_exact(raw: bytes | str) -> Any:
    """Parse JSON keeping numbers as their literal text (for hashing only, not for evaluation)."""
    try:
        return json.loads(raw, parse_float=_Number, parse_int=_Number, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON: {exc}") from exc
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply") from None


def _walk(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        # Go's sort.Strings orders UTF-8 bytes, which is the same order as Python's code-point order.
        for index, key in enumerate(sorted(value)):
            if index:
                out.append(",")
            out.append(_go_string(key))
            out.append(":")
            _walk(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _walk(item, out)
        out.append("]")
    elif isinstance(value, _Number):
        out.append(str.__str__(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_go_string(value))
    elif isinstance(value, int | float):
        out.append(json.dumps(value))
    else:
        raise InputError(f"cannot hash a {type(value).__name__} as JSON")


def canonical_bytes(value: Any) -> bytes:
    out: list[str] = []
    _walk(value, out)
    return "".join(out).encode("utf-8")


def file_hash(name: str, raw: bytes) -> str:
    """SHA-256 hex of a bundle file as OPA computes it: `.rego` (and non-JSON) raw, JSON files canonical."""
    if name.endswith(".json") or name.rsplit("/", 1)[-1] == ".manifest":
        return hashlib.sha256(canonical_bytes(loads_exact(raw))).hexdigest()
    if name.endswith((".yaml", ".yml")):
        # OPA converts YAML data to JSON before hashing it canonically.
        import yaml

        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise InputError(f"{name}: invalid YAML") from exc
        except RecursionError:
            raise InputError(f"{name}: invalid YAML (nested too deeply)") from None
        return hashlib.sha256(canonical_bytes(value)).hexdigest()
    return hashlib.sha256(raw).hexdigest()
