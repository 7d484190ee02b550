"""The robustness score: a weighted pass rate with a bootstrap confidence interval, and the CI gate.

Every (case, invariant) verdict counts with weight = mutation weight × invariant severity weight. The score is
the passed share of that total weight. The confidence interval resamples cases (not single verdicts, which
are correlated within a case) with a seeded RNG, so it is reproducible.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence

from shieldstorm.storm.models import SEVERITY_WEIGHTS, Breakdown, CaseResult, ScoreCard

try:  # numpy (extra `ml`) makes the bootstrap ~50x faster; imported here so a run never pays its import
    import numpy as np
except ImportError:  # pragma: no cover - exercised when the extra is not installed
    np = None  # type: ignore[assignment]

# Keep the pure-Python bootstrap bounded (cases × samples); numpy, when installed, lifts this.
_MAX_PURE_PYTHON_WORK = 2_000_000


def _case_sums(result: CaseResult) -> tuple[float, float]:
    passed = total = 0.0
    for check in result.checks:
        weight = result.weight * SEVERITY_WEIGHTS[check.severity]
        total += weight
        if check.passed:
            passed += weight
    return passed, total


def weighted_score(results: Iterable[CaseResult]) -> float:
    return _score_of_sums(_case_sums(result) for result in results)


def _score_of_sums(sums: Iterable[tuple[float, float]]) -> float:
    passed = total = 0.0
    for p, t in sums:
        passed += p
        total += t
    return passed / total if total else 1.0


def bootstrap_ci(
    results: Sequence[CaseResult],
    *,
    samples: int,
    seed: int,
    confidence: float = 0.95,
    sums: Sequence[tuple[float, float]] | None = None,
) -> tuple[float, float]:
    """`sums` (per result, as `_case_sums` gives them) may be passed in when the caller already has them."""
    if sums is None:
        sums = [_case_sums(r) for r in results]
    if not sums or samples <= 0:
        point = _score_of_sums(sums)
        return point, point
    n = len(sums)
    alpha = (1.0 - confidence) / 2.0
    estimates: list[float]
    if np is not None:
        rng = np.random.default_rng(seed)
        passed = np.array([s[0] for s in sums])
        total = np.array([s[1] for s in sums])
        draws = rng.integers(0, n, size=(samples, n))
        num, den = passed[draws].sum(axis=1), total[draws].sum(axis=1)
        estimates = [float(x) for x in np.where(den > 0, num / np.where(den > 0, den, 1), 1.0)]
    else:
        samples = max(50, min(samples, _MAX_PURE_PYTHON_WORK // n))
        rng_py = random.Random(seed)
        estimates = []
        for _ in range(samples):
            num = den = 0.0
            for index in rng_py.choices(range(n), k=n):
                num += sums[index][0]
                den += sums[index][1]
            estimates.append(num / den if den else 1.0)
    estimates.sort()
    low = estimates[int(alpha * (len(estimates) - 1))]
    high = estimates[int((1.0 - alpha) * (len(estimates) - 1))]
    return low, high


def _breakdown_by_type(results: Sequence[CaseResult], sums: Sequence[tuple[float, float]]) -> list[Breakdown]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, result in enumerate(results):
        groups[result.mutation_type].append(index)
    return [
        Breakdown(
            name=name,
            score=_score_of_sums(sums[i] for i in group),
            passed=sum(results[i].passed for i in group),
            total=len(group),
            failed_checks=sum(len(results[i].failures) for i in group),
        )
        for name, group in sorted(groups.items())
    ]


def _breakdown_by_invariant(results: Sequence[CaseResult]) -> list[Breakdown]:
    passed_w: dict[str, float] = defaultdict(float)
    total_w: dict[str, float] = defaultdict(float)
    passed_n: dict[str, int] = defaultdict(int)
    total_n: dict[str, int] = defaultdict(int)
    for result in results:
        for check in result.checks:
            weight = result.weight * SEVERITY_WEIGHTS[check.severity]
            total_w[check.invariant] += weight
            total_n[check.invariant] += 1
            if check.passed:
                passed_w[check.invariant] += weight
                passed_n[check.invariant] += 1
    return [
        Breakdown(
            name=name,
            score=passed_w[name] / total_w[name] if total_w[name] else 1.0,
            passed=passed_n[name],
            total=total_n[name],
            failed_checks=total_n[name] - passed_n[name],
        )
        for name in sorted(total_w)
    ]


def score_run(
    results: Sequence[CaseResult],
    *,
    min_score: float = 0.0,
    fail_on_critical: bool = True,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> ScoreCard:
    sums = [_case_sums(r) for r in results]  # once, for the score, the interval and the per-type breakdown
    score = _score_of_sums(sums)
    low, high = bootstrap_ci(results, samples=bootstrap_samples, seed=seed, sums=sums)
    critical = sum(1 for r in results for f in r.failures if f.severity == "critical")
    errors = sum(1 for r in results if r.error is not None)
    reasons = []
    if score < min_score:
        reasons.append(f"score {score:.1%} is below the minimum {min_score:.1%}")
    if fail_on_critical and critical:
        reasons.append(f"{critical} critical invariant failure(s)")
    return ScoreCard(
        score=score,
        ci_low=min(low, score),
        ci_high=max(high, score),
        by_mutation_type=_breakdown_by_type(results, sums),
        by_invariant=_breakdown_by_invariant(results),
        critical_failures=critical,
        agent_errors=errors,
        min_score=min_score,
        gate_passed=not reasons,
        gate_reasons=reasons,
    )
