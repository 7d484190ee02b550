"""One-pass multi-pattern prefilters: a Hyperscan block-mode database (primary) or an RE2 Set (fallback).

Both answer the same question, "which expressions match somewhere in this view?"; exact spans are
then taken with RE2 on the hit expressions only. Every expression is in ONE database; each scan keeps
the hits whose expression belongs to the view being scanned (raw view: PII/secrets, normalised and
leetspeak views: injection).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import re2

from shieldstorm.detect import prefilter
from shieldstorm.detect.loader import Expression, ViewName
from shieldstorm.detect.prefilter import anchored_tail
from shieldstorm.detect.re2set import CheckedSet
from shieldstorm.errors import ConfigError, ScanError

log = logging.getLogger(__name__)

_hs: Any
try:  # Hyperscan is optional at run time: wheels exist only for some platforms.
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _hs = None


def hyperscan_available() -> bool:
    return _hs is not None


class Matcher(Protocol):
    name: str

    def hits(self, data: str, encoded: bytes, view: ViewName) -> list[int]:
        """Indices of the expressions of `view` that match somewhere in the text."""
        ...


def _expression_error(expressions: list[Expression], origins: dict[str, str], compile_one: Any) -> ConfigError:
    """Find which expression broke a whole-database compile (only on the error path)."""
    for expr in expressions:
        try:
            compile_one(expr)
        except Exception as exc:
            where = origins.get(expr.pattern_id, "?")
            return ConfigError(f"{where}: pattern {expr.pattern_id}: rejected by the matching engine ({exc})")
    return ConfigError("the pattern database failed to compile")


def _by_view(expressions: list[Expression]) -> dict[ViewName, list[Expression]]:
    groups: dict[ViewName, list[Expression]] = {}
    for e in expressions:
        groups.setdefault(e.view, []).append(e)
    return groups


class HyperscanMatcher:
    """One Hyperscan database per view family (raw: PII/secrets, norm: injection).

    A single database over everything would run the PII automata over the injection views and vice
    versa: measured 3x slower than two databases each scanned only where its expressions apply.
    """

    name = "hyperscan"

    def __init__(self, expressions: list[Expression], origins: dict[str, str], cache_dir: Path | None) -> None:
        self._groups = {
            view: (_HyperscanGroup(exprs, origins, cache_dir), [e.index for e in exprs])
            for view, exprs in _by_view(expressions).items()
        }
        self.compile_seconds = sum(g.compile_seconds for g, _ in self._groups.values())
        self.from_cache = bool(self._groups) and all(g.from_cache for g, _ in self._groups.values())
        self.prefiltered = [pid for g, _ in self._groups.values() for pid in g.prefiltered]

    @classmethod
    def load_cached(cls, expressions: list[Expression], cache_dir: Path | None) -> HyperscanMatcher | None:
        """The matcher if all its databases are already in the cache (cheap), else None."""
        if not expressions or cache_dir is None:
            return None
        for exprs in _by_view(expressions).values():
            if _load_cached(_cache_file(cache_dir, exprs, [_HyperscanGroup._flags(e) for e in exprs])) is None:
                return None
        return cls(expressions, {}, cache_dir)

    def database_bytes(self) -> int:
        return sum(g.size() for g, _ in self._groups.values())

    def hits(self, data: str, encoded: bytes, view: ViewName) -> list[int]:
        group = self._groups.get(view)
        if group is None:
            return []
        matcher, global_index = group
        return [global_index[i] for i in matcher.hits(encoded)]


class _HyperscanGroup:
    def __init__(self, expressions: list[Expression], origins: dict[str, str], cache_dir: Path | None) -> None:
        assert _hs is not None
        self._db: Any = None
        self._local = threading.local()
        self.compile_seconds = 0.0
        self.from_cache = False
        self.prefiltered: list[str] = []
        if not expressions:
            return
        flags = [self._flags(e) for e in expressions]
        cache_file = _cache_file(cache_dir, expressions, flags)
        cached = _load_cached(cache_file)
        if cached is not None:
            self._db = cached
            self.from_cache = True
            return
        sources = [_hs_source(e) for e in expressions]
        t0 = time.perf_counter()
        try:
            db = self._compile_all(sources, flags)
        except _hs.error:
            # Some expressions are too large for an exact Hyperscan automaton (e.g. wide bounded
            # repeats). Prefilter mode compiles a superset automaton for those (it widens such repeats
            # itself); RE2 confirms every hit, so results are unchanged. Only an expression that fails in
            # both modes is an error.
            for i, expr in enumerate(expressions):
                try:
                    self._compile_single(sources[i], flags[i])
                except _hs.error:
                    flags[i] |= _hs.HS_FLAG_PREFILTER
                    try:
                        self._compile_single(sources[i], flags[i])
                    except _hs.error as exc:
                        where = origins.get(expr.pattern_id, "?")
                        raise ConfigError(
                            f"{where}: pattern {expr.pattern_id}: rejected by Hyperscan ({exc})"
                        ) from None
                    self.prefiltered.append(expr.pattern_id)
            try:
                db = self._compile_all(sources, flags)
            except _hs.error as exc:
                raise ConfigError(f"the pattern database failed to compile in Hyperscan ({exc})") from None
        self.compile_seconds = time.perf_counter() - t0
        self._db = db
        if cache_file is not None:
            _atomic_write(cache_file, _hs.dumpb(db))

    @staticmethod
    def _flags(expr: Expression) -> int:
        assert _hs is not None
        flags = int(_hs.HS_FLAG_UTF8 | _hs.HS_FLAG_SINGLEMATCH)
        if expr.caseless and expr.view != "norm":
            flags |= _hs.HS_FLAG_CASELESS
        return flags

    @staticmethod
    def _compile_all(sources: list[str], flags: list[int]) -> Any:
        assert _hs is not None
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(
            expressions=[s.encode() for s in sources], ids=list(range(len(sources))), elements=len(sources), flags=flags
        )
        return db

    @staticmethod
    def _compile_single(source: str, flags: int) -> None:
        assert _hs is not None
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(expressions=[source.encode()], ids=[0], elements=1, flags=[flags])

    def _scratch(self) -> Any:
        # Hyperscan scratch space must not be shared between threads: one per thread and database.
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            assert _hs is not None
            scratch = _hs.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def size(self) -> int:
        return int(self._db.size()) if self._db is not None else 0

    def hits(self, encoded: bytes) -> list[int]:
        if self._db is None:
            return []
        found: list[int] = []
        append = found.append

        def on_match(idx: int, _from: int, _to: int, _flags: int, _ctx: object) -> None:
            append(idx)

        try:
            self._db.scan(encoded, match_event_handler=on_match, scratch=self._scratch())
        except _hs.error as exc:  # never read a failed scan as "no hits"
            raise ScanError(f"Hyperscan could not complete the scan ({exc})") from None
        return found


class Re2SetMatcher:
    """One RE2 Set per view family (same split as the Hyperscan databases).

    A Set pass that reports failure (see re2set.py) is replaced by one exact RE2 search per expression
    of the view: slower, but it never turns a failed pass into "no findings".
    """

    name = "re2"

    def __init__(self, expressions: list[Expression], origins: dict[str, str]) -> None:
        self._sets: dict[ViewName, tuple[CheckedSet, list[Expression], list[int]]] = {}
        self.fallbacks = 0  # exact passes taken because a Set pass failed (observability, tests)
        for view, exprs in _by_view(expressions).items():
            try:
                # the default 8 MB is too small for a few hundred alternations
                rset = CheckedSet([e.flagged_source() for e in exprs], max_mem=RE2_SET_MAX_MEM)
            except re2.error:
                raise _expression_error(exprs, origins, lambda e: re2.compile(e.flagged_source())) from None
            self._sets[view] = (rset, exprs, [e.index for e in exprs])

    def hits(self, data: str, encoded: bytes, view: ViewName) -> list[int]:
        entry = self._sets.get(view)
        if entry is None:
            return []
        rset, exprs, global_index = entry
        matched = rset.match(encoded)
        if matched is None:
            self.fallbacks += 1
            log.warning("RE2 Set pass failed on a %d-byte %s view; searching each expression", len(encoded), view)
            return exact_hits(exprs, encoded)
        return [global_index[i] for i in matched]


# The Sets' DFA cache budget. With 523 expressions, 256 MB no longer held the norm Set's states on long prose after
# a mix of shorter texts: the DFA kept resetting and bench/detect.py's RE2 100k p50 went 9 -> 110 ms; 384 MB
# brings it back to 7.8 ms (the cache fills lazily; the benchmark process's max RSS 473 -> 506 MB).
RE2_SET_MAX_MEM = 384 << 20


def exact_hits(exprs: list[Expression], encoded: bytes) -> list[int]:
    """Indices of the expressions that match `encoded`, one single-expression RE2 search each. A single
    RE2 falls back from its DFA to the NFA by itself, so this answer is exact; if even that fails the
    scan cannot be completed and says so (callers fail closed)."""
    out: list[int] = []
    for expr in exprs:
        try:
            found = expr.regex.search(encoded)
        except re2.error as exc:
            raise ScanError(f"pattern {expr.pattern_id}: RE2 could not complete the search ({exc})") from None
        if found is not None:
            out.append(expr.index)
    return out


def lower_regex(source: str) -> str:
    """Lower-case the literal letters of a regex, leaving escapes (\\S, \\B, \\x4F, \\p{Lu}) and
    `(?P<name>` intact."""
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            j = i + 2
            if j <= n and source[i + 1 : j] in ("x", "p", "P") and j < n and source[j] == "{":
                j = source.find("}", j) + 1 or n
            elif source[i + 1 : j] == "x":
                j += 2
            out.append(source[i:j])
            i = j
            continue
        if source.startswith("(?P<", i):
            close = source.find(">", i)
            out.append(source[i : close + 1])
            i = close + 1
            continue
        out.append(c.lower())
        i += 1
    return "".join(out)


def _hs_source(expr: Expression) -> str:
    # Hyperscan ignores capture groups; the RE2 regex keeps the `value` group for the exact span.
    # A pattern's own `prefilter` (a superset, see schema.py) replaces the expression and is taken as written.
    # Bounded repeats are kept as written: widening `(?: \S+){0,20}?` to `{0,}` (done earlier to
    # keep automata small) let one "be mother" in prose keep a gap automaton running to the end of the text;
    # exact bounds scan 100k prose 0.3 ms faster (injection) and 0.13 ms faster (PII) and compile no slower
    # in total. Prefilter mode (below) still widens repeats that are too large for an exact automaton.
    source = expr.source if expr.prefilter is None else expr.prefilter
    # The normalised view is already lower-case, so injection expressions are compiled lower-cased and
    # WITHOUT HS_FLAG_CASELESS: caseless UTF-8 automata were 4-10x slower to compile (11.5 s -> 2.5 s
    # for one German expression).
    if expr.view == "norm":
        source = lower_regex(source)
    if expr.prefilter is not None:
        return source
    # Only the distinctive tail of each branch (see prefilter.py): 3x faster scans and compiles.
    return anchored_tail(source, drop_boundary=expr.view == "raw")


@functools.cache
def _source_transform_digest() -> str:
    """Digest of the code that turns a pattern expression into its Hyperscan source (this module and
    prefilter.py). Keying the cache on it and the pattern sources means a cache hit needs no transformation:
    computing every anchored tail took about 3 s of each process start on the loaded 2-core machine."""
    digest = hashlib.sha256()
    for module_file in (__file__, prefilter.__file__):
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()


def _cache_file(cache_dir: Path | None, expressions: list[Expression], flags: list[int]) -> Path | None:
    if cache_dir is None or _hs is None:
        return None
    # Keyed by everything that determines the database: engine version, the code deriving Hyperscan sources,
    # each expression's source and view, flags, platform.
    sources = [(e.source, e.prefilter, e.view) for e in expressions]
    material = (getattr(_hs, "__version__", "?"), _source_transform_digest(), sources, flags)
    key = hashlib.sha256(repr(material).encode()).hexdigest()[:32]
    return cache_dir / f"hs-{key}.db"


def _load_cached(cache_file: Path | None) -> Any:
    if cache_file is None or _hs is None or not cache_file.is_file():
        return None
    try:
        return _hs.loadb(cache_file.read_bytes(), _hs.HS_MODE_BLOCK)
    except Exception:  # a stale or truncated cache file is simply rebuilt
        log.warning("ignoring unreadable Hyperscan cache %s", cache_file)
        return None


def default_cache_dir() -> Path:
    """A compiled database is a pure function of the pattern set, so one per-user cache serves every
    process (and every test run) on the machine: $SHIELDSTORM_CACHE_DIR or $XDG_CACHE_HOME/shieldstorm."""
    explicit = os.environ.get("SHIELDSTORM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "shieldstorm"


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hs-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs compile time
        log.warning("cannot write Hyperscan cache %s: %s", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)


def build_matcher(
    engine: str, expressions: list[Expression], origins: dict[str, str], cache_dir: Path | None
) -> HyperscanMatcher | Re2SetMatcher:
    if engine == "hyperscan" or (engine == "auto" and hyperscan_available()):
        if not hyperscan_available():
            raise ConfigError("engine 'hyperscan' requested but the hyperscan package is not installed")
        return HyperscanMatcher(expressions, origins, cache_dir)
    return Re2SetMatcher(expressions, origins)
