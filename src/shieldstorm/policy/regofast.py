"""A leaner binding to rego-cpp's C API for the per-request path (same library and calls as regopy).

regopy 1.5.2's `Input(value)` walks the value through a Python closure, and each scalar goes through a wrapper
that copies strings into a fresh `create_string_buffer`; its `Output` parses the result's JSON text on
construction (and fetches the text twice), which the engine then parses again. For a Shield decision that was
about a third of the CPU time. This module makes the same C calls directly:

- `build_input(value)` builds an input exactly as `regopy.Input` does (bool before int, sets, mappings,
  sequences; anything else raises ValueError) and returns the raw handle; free it with `free_input`;
- `query_entrypoint(interpreter, bundle, entrypoint, input)` sets the input, runs the prepared entry point
  and returns `(ok, text)`: the output's JSON text, or rego-cpp's error text when `ok` is false. The output is
  freed here; nothing calls `Output.binding()` (which aborts the process on an undefined result).
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence, Set
from typing import Any

from regopy.rego_shared import RegoError, rego, rego_get_error

_new_input = rego.regoNewInput
_free_input = rego.regoFreeInput
_int = rego.regoInputInt
_float = rego.regoInputFloat
_str = rego.regoInputString
_bool = rego.regoInputBoolean
_null = rego.regoInputNull
_item = rego.regoInputObjectItem
_object = rego.regoInputObject
_array = rego.regoInputArray
_set = rego.regoInputSet
_set_input = rego.regoSetInput
_query_entrypoint = rego.regoBundleQueryEntrypoint
_output_ok = rego.regoOutputOk
_output_size = rego.regoOutputJSONSize
_output_json = rego.regoOutputJSON
_free_output = rego.regoFreeOutput


def _fail(code: int) -> None:
    raise RegoError("Unable to create input", code)


def _add(handle: int, value: Any) -> None:
    kind = type(value)
    if kind is str:
        if _str(handle, value.encode("utf-8")):
            _fail(1)
    elif kind is bool:
        if _bool(handle, value):
            _fail(1)
    elif kind is int:
        if _int(handle, value):
            _fail(1)
    elif kind is float:
        if _float(handle, value):
            _fail(1)
    elif value is None:
        if _null(handle):
            _fail(1)
    elif kind is dict:
        for key, item in value.items():
            _add(handle, key)
            _add(handle, item)
            if _item(handle):
                _fail(1)
        if _object(handle, len(value)):
            _fail(1)
    elif kind is list or kind is tuple:
        for item in value:
            _add(handle, item)
        if _array(handle, len(value)):
            _fail(1)
    else:
        _add_generic(handle, value)


def _add_generic(handle: int, value: Any) -> None:
    """Subclasses and other containers, in regopy's own order of checks."""
    if value is True or value is False:
        code = _bool(handle, value)
    elif isinstance(value, int):
        code = _int(handle, value)
    elif isinstance(value, float):
        code = _float(handle, value)
    elif isinstance(value, str):
        code = _str(handle, str.encode(value, "utf-8"))
    elif isinstance(value, Set):
        for item in value:
            _add(handle, item)
        code = _set(handle, len(value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _add(handle, key)
            _add(handle, item)
            if _item(handle):
                _fail(1)
        code = _object(handle, len(value))
    elif isinstance(value, Sequence):
        for item in value:
            _add(handle, item)
        code = _array(handle, len(value))
    else:
        raise ValueError("Cannot convert object of type " + str(type(value)) + " to rego input")
    if code:
        _fail(code)


def build_input(value: Any) -> int:
    """A rego-cpp input handle for `value` (free it with `free_input`)."""
    handle = _new_input()
    try:
        _add(handle, value)
    except BaseException:
        _free_input(handle)
        raise
    return int(handle)


def free_input(handle: int) -> None:
    _free_input(handle)


def _text(output: int) -> str:
    size = _output_size(output)
    buffer = ctypes.create_string_buffer(size)
    if _output_json(output, buffer, size):
        raise RegoError("unable to read the policy output")
    return buffer.value.decode("utf-8")


def query_entrypoint(interpreter: Any, bundle: Any, entrypoint: bytes, input_handle: int) -> tuple[bool, str]:
    """Set the input and run a prepared entry point: (ok, JSON text or error text)."""
    impl = interpreter._impl
    if _set_input(impl, input_handle):
        raise RegoError(rego_get_error(impl))
    output = _query_entrypoint(impl, bundle._impl, entrypoint)
    if not output:
        raise RegoError(rego_get_error(impl))
    try:
        return bool(_output_ok(output)), _text(output)
    finally:
        _free_output(output)
