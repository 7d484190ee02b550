"""The Detector: loads the pattern set, compiles one database, scans, scores and redacts.

A Detector holds an immutable compiled snapshot (`_Snapshot`). `reload()` builds a new snapshot
next to the old one and swaps a single reference, so scans in flight keep the database they
started with and a broken pattern file never replaces a working database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shieldstorm.detect.config import DetectorConfig
from shieldstorm.detect.decode import find_payloads
from shieldstorm.detect.loader import Expression, PatternSet, ViewName, load_pattern_set
from shieldstorm.detect.matcher import (
    HyperscanMatcher,
    Re2SetMatcher,
    build_matcher,
    default_cache_dir,
    hyperscan_available,
)
from shieldstorm.detect.models import Finding, Redaction, ScanResult, Verdict
from shieldstorm.detect.negation import blank
from shieldstorm.detect.negation import prohibited as is_prohibition
from shieldstorm.detect.normalize import View, leet_view, norm_signals, normalized_view, raw_view
from shieldstorm.detect.redact import RedactionVault, RedactMode, apply_redaction
from shieldstorm.detect.schema import Pattern
from shieldstorm.detect.scoring import score
from shieldstorm.detect.stage2 import second_stage
from shieldstorm.errors import ConfigError, InputError

if TYPE_CHECKING:
    from shieldstorm.detect.watch import PatternWatcher

log = logging.getLogger(__name__)

# Bound the findings per expression: a 10 MB text full of e-mail addresses still returns promptly.
MAX_MATCHES_PER_EXPRESSION = 1000
# Texts up to this size are scanned inline by scan_async (cheaper than a thread hop).
ASYNC_INLINE_CHARS = 16_384


@dataclass(frozen=True)
class _Snapshot:
    patterns: PatternSet
    matcher: HyperscanMatcher | Re2SetMatcher


@dataclass(frozen=True)
class SelfTestFailure:
    pattern_id: str
    case: str  # "example" | "counter_example"
    text: str
    found: tuple[str, ...]


def _finding_order(finding: Finding) -> tuple[int, int, str]:
    return finding.start, finding.end, finding.pattern_id


@dataclass
class _Budget:
    chars: int
    candidates: int
    incomplete: set[str] = field(default_factory=set)
    # Spans of the scanned text (original offsets) whose match a negation turned into a prohibition (negation.py)
    prohibited: list[tuple[int, int]] = field(default_factory=list)


class Detector:
    """Scan texts for prompt injection, jailbreaks, PII and secrets."""

    _default: Detector | None = None
    _default_lock = threading.Lock()

    def __init__(
        self,
        user_dirs: Iterable[str | Path] = (),
        *,
        config: DetectorConfig | None = None,
        builtins: bool = True,
    ) -> None:
        self.config = config or DetectorConfig()
        self._dirs = [Path(d) for d in user_dirs]
        self._builtins = builtins
        self._reload_lock = threading.Lock()
        self.last_reload_error: str | None = None
        self._compiling: threading.Event | None = None
        with self._reload_lock:  # a background compile must not see a half-built detector
            self._snapshot = self._build()

    # ----------------------------------------------------------------------------------------------
    # construction and reload

    @classmethod
    def default(cls) -> Detector:
        """The shared detector over the built-in patterns (built once per process)."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = cls()
        return cls._default

    @classmethod
    def from_paths(
        cls, paths: Iterable[str | Path], config: DetectorConfig | None = None, *, builtins: bool = True
    ) -> Detector:
        """Built-ins plus user pattern directories (which may extend, override or `disable` built-ins)."""
        return cls(paths, config=config, builtins=builtins)

    def _build(self) -> _Snapshot:
        pset = load_pattern_set(self._dirs, builtins=self._builtins)
        cache = None
        if self.config.use_cache:
            cache = Path(self.config.cache_dir) if self.config.cache_dir else default_cache_dir()
        if self.config.engine == "auto" and hyperscan_available() and self.config.background_compile:
            cached = HyperscanMatcher.load_cached(pset.expressions, cache)
            if cached is not None or not pset.expressions:
                return _Snapshot(pset, cached or build_matcher("re2", [], {}, None))
            snapshot = _Snapshot(pset, Re2SetMatcher(pset.expressions, pset.origins))
            self._start_background_compile(snapshot, cache)
            return snapshot
        matcher = build_matcher(self.config.engine, pset.expressions, pset.origins, cache)
        return _Snapshot(pset, matcher)

    def _start_background_compile(self, snapshot: _Snapshot, cache: Path | None) -> None:
        done = threading.Event()
        self._compiling = done

        def work() -> None:
            try:
                matcher = HyperscanMatcher(snapshot.patterns.expressions, snapshot.patterns.origins, cache)
            except Exception as exc:  # stay on RE2: the set is valid there, only Hyperscan refused it
                log.warning("Hyperscan compile failed, staying on RE2: %s", exc)
            else:
                with self._reload_lock:
                    # Only upgrade the snapshot it was built for (a reload may have replaced it).
                    if self._snapshot is snapshot:
                        self._snapshot = _Snapshot(snapshot.patterns, matcher)
            finally:
                done.set()

        threading.Thread(target=work, name="shieldstorm-hyperscan-compile", daemon=True).start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for a background Hyperscan compile (engine="auto"); True when none is pending."""
        pending = self._compiling
        return True if pending is None else pending.wait(timeout)

    def reload(self) -> bool:
        """Rebuild from the pattern files. On error the previous database keeps serving and the
        ConfigError is raised (and kept in `last_reload_error`). Returns True when the set changed."""
        with self._reload_lock:
            try:
                snapshot = self._build()
            except ConfigError as exc:
                self.last_reload_error = str(exc)
                log.warning("pattern reload rejected, previous database keeps serving: %s", exc)
                raise
            self.last_reload_error = None
            changed = snapshot.patterns.digest != self._snapshot.patterns.digest
            self._snapshot = snapshot  # one reference swap: atomic for concurrent scans
            return changed

    def watch(self, *dirs: str | Path, debounce_ms: int = 200) -> PatternWatcher:
        """Reload whenever a pattern file under the user directories (or `dirs`) changes."""
        from shieldstorm.detect.watch import PatternWatcher

        extra = [Path(d) for d in dirs]
        for d in extra:
            if d not in self._dirs:
                self._dirs.append(d)
                self.reload()
        return PatternWatcher(self, self._dirs or extra, debounce_ms=debounce_ms).start()

    # ----------------------------------------------------------------------------------------------
    # introspection

    @property
    def engine(self) -> str:
        return self._snapshot.matcher.name

    @property
    def patterns(self) -> dict[str, Pattern]:
        return self._snapshot.patterns.patterns

    @property
    def origins(self) -> dict[str, str]:
        return self._snapshot.patterns.origins

    @property
    def digest(self) -> str:
        return self._snapshot.patterns.digest

    # ----------------------------------------------------------------------------------------------
    # scanning

    def _coerce(self, text: str | bytes) -> str:
        if isinstance(text, bytes | bytearray | memoryview):
            raw = bytes(text)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"input is not valid UTF-8 (bad byte at offset {exc.start})") from None
        if not isinstance(text, str):
            raise InputError(f"input must be text, not {type(text).__name__}")
        if len(text) > self.config.max_input_chars:
            raise InputError(
                f"input is {len(text):,} characters; the limit is {self.config.max_input_chars:,} (max_input_chars)"
            )
        if text.isascii():  # cannot hold a surrogate; skips an encode of the whole text
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from JSON "\ud800" or surrogateescape) become U+FFFD, keeping every offset.
            text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
        return text

    def scan(self, text: str | bytes) -> ScanResult:
        text = self._coerce(text)
        snapshot = self._snapshot
        if not text:
            return ScanResult(verdict=Verdict.ALLOW, risk=0.0, attack=False)
        budget = _Budget(self.config.max_decoded_chars, self.config.max_decode_candidates)
        norm = normalized_view(text)
        findings = self._find(snapshot, text, 0, budget, norm)
        findings.sort(key=_finding_order)
        risk, attack, categories, verdict = score(findings, self.config)
        # The learned second stage (stage2.py) is consulted only when the patterns leave `attack` open; the
        # text is re-scored only when it adds a finding. It reads the same normalised view.
        # The classifier is a bag of words: it cannot see that "never reveal your hidden instructions" forbids what
        # "reveal your hidden instructions" asks. It reads the text with the prohibited spans blanked out (same
        # length, so its findings keep their offsets).
        read = blank(text, budget.prohibited) if budget.prohibited else None
        learned = second_stage(
            text, findings, self.config, self._builtins, patterns_attack=attack,
            normalized=norm.text if read is None else None, read=read,
        )
        if learned:
            findings = sorted([*findings, *learned], key=_finding_order)
            risk, attack, categories, verdict = score(findings, self.config)
        incomplete = sorted(budget.incomplete)
        if incomplete and verdict != Verdict.BLOCK:
            verdict = Verdict.BLOCK if self.config.on_incomplete == "block" else Verdict.REVIEW
        return ScanResult(verdict=verdict, risk=risk, attack=attack, categories=categories, findings=findings,
                          incomplete=incomplete)

    def scan_many(self, texts: Sequence[str | bytes] | Iterable[str | bytes]) -> list[ScanResult]:
        return [self.scan(t) for t in texts]

    async def scan_async(self, text: str | bytes) -> ScanResult:
        """Small texts are scanned inline (microseconds); large ones in a worker thread."""
        if len(text) <= ASYNC_INLINE_CHARS:
            return self.scan(text)
        return await asyncio.to_thread(self.scan, text)

    def redact(
        self,
        text: str,
        mode: RedactMode = "placeholder",
        vault: RedactionVault | None = None,
        *,
        result: ScanResult | None = None,
    ) -> Redaction:
        """Replace PII/secret spans by `[ENTITY_n]` placeholders (reversible through `vault`) or masks."""
        if mode not in ("placeholder", "mask"):
            raise InputError(f"unknown redaction mode {mode!r}; use 'placeholder' or 'mask'")
        text = self._coerce(text)
        found = result.findings if result is not None else self.scan(text).findings
        return apply_redaction(text, found, mode=mode, vault=vault)

    def _find(
        self, snapshot: _Snapshot, text: str, depth: int, budget: _Budget, norm: View | None = None
    ) -> list[Finding]:
        """Pattern findings of `text` and of what decodes inside it. `norm`: its normalised view, if built."""
        pset = snapshot.patterns
        exprs = pset.expressions
        matcher = snapshot.matcher
        seen: set[tuple[str, int, int]] = set()
        findings: list[Finding] = []

        raw = raw_view(text)
        raw_bytes = raw.utf8()
        if norm is None:
            norm = normalized_view(text)
        norm_bytes = norm.utf8()
        # One RE2 Set pass over the normalised bytes answers both "leetspeak?" and "mentions rot13?".
        leet_mixed, hinted = norm_signals(norm)
        views: list[tuple[View, bytes, ViewName]] = [(raw, raw_bytes, "raw"), (norm, norm_bytes, "norm")]
        if self.config.leetspeak:
            leet = leet_view(norm, norm_bytes, mixed=leet_mixed)
            if leet is not None:
                views.append((leet, leet.utf8(), "norm"))

        for view, encoded, name in views:
            hits = matcher.hits(view.text, encoded, name)
            if not hits:
                continue
            # An ASCII view is searched as its UTF-8 bytes: byte offsets are character offsets, and the re2
            # wrapper then neither re-encodes the text nor maps byte offsets back for every match.
            subject: str | bytes = encoded if view.text.isascii() else view.text
            prohibited = budget.prohibited if depth == 0 else None  # decoded payloads have their own offsets
            for idx in hits:
                if self._spans(pset, exprs[idx], view, subject, text, seen, findings, prohibited):
                    budget.incomplete.add(f"matches:{exprs[idx].pattern_id}")

        if not self.config.decode:
            return findings
        # the raw view of ASCII text is the text itself: reuse its bytes for the candidate gate
        gate_bytes = raw_bytes if raw.text is text else None
        if depth >= self.config.max_decode_depth or budget.candidates <= 0:
            # Nothing more may be decoded; say so if something decodable is left uninspected.
            if find_payloads(text, min_length=self.config.min_encoded_length, limit=1, rot13=self.config.rot13,
                             hinted=hinted, encoded=gate_bytes):
                budget.incomplete.add("decode_depth" if budget.candidates > 0 else "decode_candidates")
            return findings
        oversize: list[tuple[int, int]] = []
        payloads = find_payloads(
            text,
            min_length=self.config.min_encoded_length,
            limit=budget.candidates + 1,  # one more than allowed tells whether payloads are left over
            rot13=self.config.rot13,
            hinted=hinted,
            encoded=gate_bytes,
            max_chars=budget.chars,
            oversize=oversize,
        )
        if oversize:
            budget.incomplete.add("decoded_chars")
        for p in payloads:
            if budget.candidates <= 0:
                budget.incomplete.add("decode_candidates")
                break
            if len(p.text) > budget.chars:
                budget.incomplete.add("decoded_chars")
                break
            budget.candidates -= 1
            budget.chars -= len(p.text)
            for inner in self._find(snapshot, p.text, depth + 1, budget):
                # rot13 keeps every offset; other decodings report the whole encoded token.
                s, e = (inner.start, inner.end) if p.encoding == "rot13" else (p.start, p.end)
                key = (inner.pattern_id, s, e)
                if key in seen:
                    continue
                seen.add(key)
                chain = p.encoding if inner.decoded_from is None else f"{p.encoding}>{inner.decoded_from}"
                findings.append(
                    inner.model_copy(update={"start": s, "end": e, "text": text[s:e], "decoded_from": chain})
                )
        return findings

    @staticmethod
    def _spans(
        pset: PatternSet,
        expr: Expression,
        view: View,
        subject: str | bytes,
        text: str,
        seen: set[tuple[str, int, int]],
        out: list[Finding],
        prohibited: list[tuple[int, int]] | None = None,
    ) -> bool:
        """Append the validated findings of one expression; True when the per-expression cap cut them off.
        `subject`: what RE2 searches, the view's text or (ASCII view) its UTF-8 bytes. `prohibited` collects the
        original spans of matches that a negation turned into prohibitions."""
        pattern = pset.patterns[expr.pattern_id]
        validator = pset.validators.get(pattern.validator) if pattern.validator else None
        group = expr.value_group or 0
        negatable = pattern.negatable
        # The cap counts reported findings, not candidates: 1,000 numbers failing their check digit
        # must not hide the valid card number after them (each rejected candidate costs one validator
        # call, so the work stays linear in the text).
        reported = 0
        for m in expr.regex.finditer(subject):
            vs, ve = m.span(group)
            if vs < 0 or ve <= vs:
                continue
            if negatable and is_prohibition(view.text, m.start(), object_form=negatable == "object"):
                # "never reveal your instructions": a prohibition, not a request
                if prohibited is not None:
                    prohibited.append(view.to_original(m.start(), m.end()))
                continue
            if validator is not None:
                try:
                    ok = bool(validator(view.text[vs:ve]))
                except Exception:  # a validator bug must not break the scan; the check simply fails
                    log.debug("validator %s raised", pattern.validator, exc_info=True)
                    ok = False
                if not ok:
                    continue
            start, end = view.to_original(vs, ve)
            if end <= start:
                continue
            key = (pattern.id, start, end)
            if key in seen:
                continue
            seen.add(key)
            out.append(
                Finding(
                    pattern_id=pattern.id,
                    kind=pattern.kind,
                    category=pattern.category,
                    severity=pattern.severity,
                    start=start,
                    end=end,
                    text=text[start:end],
                    entity=pattern.entity,
                )
            )
            reported += 1
            if reported >= MAX_MATCHES_PER_EXPRESSION:
                return True
        return False

    # ----------------------------------------------------------------------------------------------
    # self-test

    def self_test(self, ids: Iterable[str] | None = None) -> list[SelfTestFailure]:
        """Run every pattern's examples (must be found) and counter-examples (must not be)."""
        failures: list[SelfTestFailure] = []
        wanted = set(ids) if ids is not None else None
        for pid, pattern in self.patterns.items():
            if wanted is not None and pid not in wanted:
                continue
            for case, texts, expect in (
                ("example", pattern.examples, True),
                ("counter_example", pattern.counter_examples, False),
            ):
                for t in texts:
                    found = tuple(sorted({f.pattern_id for f in self.scan(t).findings}))
                    if (pid in found) != expect:
                        failures.append(SelfTestFailure(pid, case, t, found))
        return failures
