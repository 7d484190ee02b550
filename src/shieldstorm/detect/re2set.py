"""RE2 Sets whose failure cannot pass for "nothing matched".

google-re2's `Set.Match(text)` calls `RE2::Set::Match(text, &v)` without an `ErrorInfo` and returns
`v or None`: an empty answer means either "no expression matched" or "the DFA failed" (out of
memory), and the wrapper gives no way to tell them apart. For a detector the second reading would be
a silent miss. Every set built here carries one extra expression, `\\z`, which matches every text:
a completed pass always reports it, so an answer without it is a failure, never "no match". Callers
then take an exact path (single-expression RE2 searches, which fall back to the NFA on their own) or
answer conservatively; see docs/detect.md "Failing closed".
"""

from __future__ import annotations

from collections.abc import Sequence

import re2

# Matches at the end of every text, so every completed Set pass reports it.
_SENTINEL = r"\z"


class CheckedSet:
    """An unanchored RE2 Set over `sources`; `match` returns the indices that matched, or None when
    the set could not complete the pass."""

    __slots__ = ("_sentinel", "_set")

    def __init__(self, sources: Sequence[str], max_mem: int | None = None) -> None:
        options = re2.Options()
        if max_mem is not None:
            options.max_mem = max_mem
        self._set = re2.Set.SearchSet(options)
        for source in sources:
            self._set.Add(source)  # re2.error names nothing: callers that need the culprit check first
        self._sentinel = self._set.Add(_SENTINEL)
        self._set.Compile()

    def match(self, data: bytes) -> list[int] | None:
        found: list[int] | None = self._set.Match(data)
        if not found or self._sentinel not in found:
            return None
        found.remove(self._sentinel)
        return found
