"""A bounded cache of policy decisions keyed on the exact (trimmed, prepared) input document.

Correct because a compiled bundle is a pure function of input and data, and the data is part of the bundle:
one cache belongs to one `PolicyEngine`, and activating a bundle builds a new engine (so a new, empty cache).
Two exceptions are handled:

- builtins whose result depends on something other than their arguments (the clock, the network, randomness)
  make a bundle non-deterministic: `nondeterministic_builtins` finds them in the Rego text and the engine then
  runs without a cache;
- two inputs rego-cpp would see differently must never share an entry, so the key is an exact encoding
  (`cache_key`) that keeps every type distinction and refuses what it does not know (that call is simply
  evaluated, uncached).

Fail-mode decisions (engine errors) are never stored: a transient failure must not outlive its request.
"""

from __future__ import annotations

import marshal
import re
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from shieldstorm.policy.rego_source import code_only

# Builtins whose value is not a function of their arguments alone (OPA's "non-deterministic" builtins, plus the
# ones that read the current time internally to check validity).
_NONDETERMINISTIC = re.compile(
    r"(?<![\w.])("
    r"time\.now_ns|http\.send|rand\.intn|uuid\.rfc4122|opa\.runtime|net\.lookup_ip_addr|"
    r"io\.jwt\.decode_verify|crypto\.x509\.parse_and_verify_certificates(?:_with_options)?"
    r")(?!\w)"
)


def nondeterministic_builtins(sources: list[str]) -> list[str]:
    """The non-deterministic builtins the Rego sources call (comments and string literals ignored)."""
    found: dict[str, None] = {}
    for source in sources:
        for match in _NONDETERMINISTIC.finditer(code_only(source)):
            found[match.group(1)] = None
    return list(found)


def cache_key(document: Any) -> bytes:
    """The exact encoding of `document`: equal bytes only for values equal with exactly the same types.

    `marshal` keeps every distinction rego-cpp's input conversion makes (bool vs int, int vs float, string vs
    number object keys, set vs array) and rejects anything else (subclasses, other objects) with ValueError:
    such a call is evaluated uncached. Format version 2 writes no back-references, so the bytes depend on values
    only, not on which objects happen to be shared. Equal values may still encode differently (object key
    order, set iteration order, list vs tuple): that only costs a cache miss, never a wrong hit.
    """
    return marshal.dumps(document, 2)


V = TypeVar("V")


class DecisionCache(Generic[V]):
    """Least-recently-used, bounded, thread-safe (the Shield evaluates from the event loop and from threads)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: bytes, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
