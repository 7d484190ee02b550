"""Adapters to the shared core: the detection engine (contract 1) and the Rego policy holder (contract 4).

The Shield asks only for what it uses, so these stay small: `scan_many` + `redact` from the detector,
`evaluate` + status from the policy holder. Pattern reload swaps the detector atomically (one attribute write).
If the policy package is unavailable, the documented threshold decision of `risk.py` is used instead.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from shieldstorm.detect.models import ScanResult
from shieldstorm.errors import ConfigError
from shieldstorm.shield.config import DetectionConfig, PolicyConfig, RiskConfig
from shieldstorm.shield.risk import threshold_decision


class Scanner(Protocol):
    def scan_many(self, texts: list[str]) -> list[ScanResult]: ...

    def redact(self, text: str, mode: str = ...) -> Any: ...


_detectors: dict[str, Scanner] = {}
_detectors_lock = threading.Lock()


def build_detector(config: DetectionConfig, *, fresh: bool = False) -> Scanner:
    """Detectors are immutable once built, so Shields in one process share one per pattern directory (building
    compiles a Hyperscan database: up to seconds). `fresh=True` (pattern reload) always rebuilds."""
    key = str(config.patterns_dir or "")
    with _detectors_lock:
        if not fresh and key in _detectors:
            return _detectors[key]
        detector = _build(config)
        _detectors[key] = detector
        return detector


def _build(config: DetectionConfig) -> Scanner:
    detector_class: Any = importlib.import_module("shieldstorm.detect").Detector
    if config.patterns_dir is not None:
        return detector_class.from_paths([config.patterns_dir])  # type: ignore[no-any-return]
    return detector_class.default()  # type: ignore[no-any-return]


class DetectionEngine:
    """The detector plus a bounded cache of scan results by exact text.

    Chat traffic repeats itself: the same system prompt, tool definitions and conversation history arrive with
    every turn. The detector is deterministic for a given pattern set, so a repeated text reuses its result; the
    cache is replaced with the detector on reload.
    """

    CACHE_ENTRIES = 4096
    CACHE_MAX_CHARS = 16_384

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config
        self.detector = build_detector(config)
        self.generation = 1
        self._cache: OrderedDict[str, ScanResult] = OrderedDict()

    def scan_many(self, texts: list[str]) -> list[ScanResult]:
        cache = self._cache
        results: list[ScanResult | None] = []
        missing: list[int] = []
        for index, text in enumerate(texts):
            hit = cache.get(text)
            if hit is not None:
                cache.move_to_end(text)
            else:
                missing.append(index)
            results.append(hit)
        if missing:
            fresh = self.detector.scan_many([texts[i] for i in missing])
            for index, result in zip(missing, fresh, strict=True):
                results[index] = result
                if len(texts[index]) <= self.CACHE_MAX_CHARS:
                    cache[texts[index]] = result
            while len(cache) > self.CACHE_ENTRIES:
                cache.popitem(last=False)
        return [r for r in results if r is not None]

    def reload(self) -> int:
        """Rebuild from the pattern files and swap in; a broken pattern set raises and keeps the old one."""
        detector = build_detector(self.config, fresh=True)
        self.detector, self._cache = detector, OrderedDict()
        self.generation += 1
        return self.generation


@dataclass
class GateDecision:
    decision: str
    reasons: list[str] = field(default_factory=list)
    redact: list[str] = field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fail_mode_applied: bool = False
    error: str | None = None


def _gate(result: Any) -> GateDecision:
    return GateDecision(
        decision=result.decision,
        reasons=list(result.reasons),
        redact=list(result.redact),
        status=result.status,
        headers=dict(result.headers),
        fail_mode_applied=bool(result.fail_mode_applied),
        error=result.error,
    )


class PolicyGate:
    """Rego via PolicyHolder when the policy package is present; threshold decision otherwise."""

    def __init__(self, config: PolicyConfig, risk: RiskConfig) -> None:
        self.config = config
        self.risk = risk
        self.holder: Any = None
        self.runtime: Any = None
        self.unavailable_reason: str | None = None
        try:
            runtime_module = importlib.import_module("shieldstorm.policy.runtime")
        except ImportError as exc:
            self.unavailable_reason = f"policy engine not installed ({exc.name})"
            return
        keys = []
        for path in config.public_keys:
            try:
                keys.append(path.read_bytes())
            except OSError as exc:
                raise ConfigError(f"policy.public_keys: cannot read {path}: {exc.strerror}") from exc
        self.runtime = runtime_module.PolicyRuntime.create(
            bundle=config.directory, source=config.source, follow_database=config.follow_database,
            public_keys=keys or None, require_signature=config.require_signature, fail_mode=config.fail_mode,
            database_url=config.database_url, shadow_sample_rate=config.shadow_sample_rate,
            min_delay=config.poll_seconds, max_delay=config.poll_seconds * 1.5,
        )
        self.holder = self.runtime.holder

    def start(self) -> None:
        """Begin hot reload (first poll is synchronous: call it off the event loop)."""
        if self.runtime is not None:
            self.runtime.start()

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()

    @property
    def kind(self) -> str:
        return "rego" if self.holder is not None else "thresholds"

    @property
    def inline(self) -> bool:
        """Whether a new input may be evaluated on the event loop: the thresholds always; Rego while its running
        mean evaluation time is within `policy.inline_max_ms` (the default policy takes about 0.2 ms)."""
        if self.holder is None:
            return True
        seconds: float = self.holder.evaluation_seconds
        return self.config.inline_max_ms > 0 and seconds * 1000 <= self.config.inline_max_ms

    def cached(self, document: dict[str, Any]) -> GateDecision | None:
        """The Rego decision for a repeated input straight from the policy's decision cache, else None."""
        if self.holder is None:
            return None
        result = self.holder.cached(document)
        return None if result is None else _gate(result)

    def evaluate(self, document: dict[str, Any]) -> GateDecision:
        if self.holder is None:
            sensitive = any(d["kind"] in ("pii", "secret") for d in document["detections"])
            action = threshold_decision(self.risk, document["risk"], attack=document["attack"], sensitive=sensitive)
            return GateDecision(action, [f"risk {document['risk']:.2f} ({action} by thresholds)"]
                                if action != "allow" else [])
        # The gate copies every field it keeps, so the engine may hand over its cached decision uncopied.
        return _gate(self.holder.evaluate(document, shared=True))

    def status(self) -> dict[str, Any]:
        if self.runtime is None:
            return {"kind": "thresholds", "reason": self.unavailable_reason}
        status: dict[str, Any] = {"kind": "rego", **self.runtime.status()}
        return status
