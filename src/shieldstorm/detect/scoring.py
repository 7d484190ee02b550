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
    by_category: dict[str, list[float]] = {}
    for (category, _pid), w in per_pattern.items():
        by_category.setdefault(category, []).append(w)
    categories = {c: round(_noisy_or(ws), 4) for c, ws in sorted(by_category.items())}
    risk = round(_noisy_or(categories.values()), 4)
    evidence = _noisy_or(injection.values())
    attack = bool(injection) and evidence >= config.attack_threshold
    if attack or risk >= config.block_threshold:
        verdict = Verdict.BLOCK
    elif risk >= config.review_threshold:
        verdict = Verdict.REVIEW
    else:
        verdict = Verdict.ALLOW
    return min(max(risk, 0.0), 1.0), attack, categories, verdict
