"""Turn findings into category scores, a risk in [0, 1], the `attack` flag and a verdict.

Formula (documented in docs/detect.md): each distinct pattern contributes the weight of its severity;
contributions combine by noisy-OR, `1 - prod(1 - w)`, per category and then across categories.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from shieldstorm.detect.config import DetectorConfig, SeverityWeights
from shieldstorm.detect.models import Finding, Kind, Severity, Verdict


@functools.lru_cache(maxsize=16)
def _weights(w: SeverityWeights) -> dict[Severity, float]:
    # SeverityWeights is frozen (hashable): the table is built once per configuration, not per scan
    return {
        Severity.CRITICAL: float(w.critical),
        Severity.HIGH: float(w.high),
        Severity.MEDIUM: float(w.medium),
        Severity.LOW: float(w.low),
    }


def _noisy_or(weights: Iterable[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return 1.0 - miss


@functools.lru_cache(maxsize=4096)
def _round4(value: float) -> float:
    # round(x, 4) goes through a correctly rounded decimal conversion (~0.3 us); a scan rounds the same
    # few noisy-OR values again and again (they come from a handful of severity weights).
    return round(value, 4)


def score(findings: list[Finding], config: DetectorConfig) -> tuple[float, bool, dict[str, float], Verdict]:
    if not findings:
        return 0.0, False, {}, Verdict.ALLOW if config.review_threshold > 0.0 else Verdict.REVIEW
    weights = _weights(config.weights)
    # One contribution per (category, pattern): repeating the same phrase ten times is not ten signals.
    per_pattern: dict[tuple[str, str], float] = {}
    injection: dict[str, float] = {}
    for f in findings:
        w = weights[f.severity]
        key = (f.category, f.pattern_id)
        per_pattern[key] = max(per_pattern.get(key, 0.0), w)
        if f.kind == Kind.INJECTION:
            injection[f.pattern_id] = max(injection.get(f.pattern_id, 0.0), w)
    # Per category, the noisy-OR's product of misses is accumulated while grouping (no per-category lists),
    # in the order of the contributions.
    miss_by_category: dict[str, float] = {}
    for (category, _pid), w in per_pattern.items():
        miss_by_category[category] = miss_by_category.get(category, 1.0) * (1.0 - w)
    items = sorted(miss_by_category.items()) if len(miss_by_category) > 1 else miss_by_category.items()
    categories = {c: _round4(1.0 - miss) for c, miss in items}
    risk = _round4(_noisy_or(categories.values()))
    attack = bool(injection) and _noisy_or(injection.values()) >= config.attack_threshold
    if attack or risk >= config.block_threshold:
        verdict = Verdict.BLOCK
    elif risk >= config.review_threshold:
        verdict = Verdict.REVIEW
    else:
        verdict = Verdict.ALLOW
    return min(max(risk, 0.0), 1.0), attack, categories, verdict
