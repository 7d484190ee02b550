"""Cheap "does any of these expressions occur?" gates over UTF-8 bytes (leetspeak/rot13 signals, the
encoded-payload candidate gate).

A gate only decides whether an exact, slower step runs, so it may answer "maybe" but never "no" when
the truth is "yes". With Hyperscan installed a gate is a tiny Hyperscan database (one pass, ~4x cheaper
than an RE2 Set on prose: 45 vs 190 µs per 100k characters); otherwise a sentinel-checked RE2 Set. A
pass that fails answers "every expression may match" (fail closed: the exact step runs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from shieldstorm.detect.re2set import CheckedSet

log = logging.getLogger(__name__)

_hs: Any
try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _hs = None


class Gate:
    __slots__ = ("_all", "_db", "_local", "_set")

    def __init__(self, sources: Sequence[str]) -> None:
        self._all = frozenset(range(len(sources)))
        self._db: Any = None
        self._set: CheckedSet | None = None
        self._local = threading.local()
        if _hs is not None:
            try:
                db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
                db.compile(
                    expressions=[s.encode() for s in sources],
                    ids=list(range(len(sources))),
                    elements=len(sources),
                    flags=[_hs.HS_FLAG_UTF8 | _hs.HS_FLAG_SINGLEMATCH] * len(sources),
                )
                self._db = db
                return
            except _hs.error as exc:  # RE2 understands every gate expression; Hyperscan is an optimisation
                log.debug("gate falls back to RE2: %s", exc)
        self._set = CheckedSet(sources)

    def match(self, data: bytes) -> frozenset[int]:
        """Indices of the expressions that (may) occur in `data`."""
        if self._db is None:
            assert self._set is not None
            found = self._set.match(data)
            return self._all if found is None else frozenset(found)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:  # scratch space is per thread
            scratch = self._local.scratch = _hs.Scratch(self._db)
        hits: set[int] = set()
        try:
            self._db.scan(data, match_event_handler=lambda i, _f, _t, _fl, _c: hits.add(i), scratch=scratch)
        except _hs.error:
            log.warning("gate scan failed on %d bytes; taking the exact path", len(data))
            return self._all
        return frozenset(hits)
