"""The composite risk formula and the threshold decision (the input to, and fallback for, the Rego policy).

    risk = 1 − (1 − w_d·d) · (1 − w_a·a) · (1 − w_r·r)

d: detector attack risk (0..1: the detection engine's highest score over injection categories of any
segment; PII/secret categories do not count here, they drive redaction), a: anomaly score of the request signals (0..1),
r: rate-limit pressure (share of the principal's burst in use, 0..1). Weights w are in `risk:` of shield.yaml
(defaults 1.0, 0.3, 0.1). This is a weighted noisy-OR: any one strong signal is enough, weak signals add up,
and the result stays in [0, 1]. Thresholds: risk ≥ block_threshold (0.8) → block; ≥ challenge_threshold
(0.6) → challenge; PII/secret findings below those → redact; otherwise allow. A detected attack is at least a
challenge; an attack at block-level risk is blocked.
"""

from __future__ import annotations

from shieldstorm.shield.config import RiskConfig


def composite_risk(config: RiskConfig, detector: float, anomaly: float, pressure: float) -> float:
    keep = (1 - config.detector_weight * detector) * (1 - config.anomaly_weight * anomaly)
    keep *= 1 - config.rate_weight * pressure
    return round(min(max(1 - keep, 0.0), 1.0), 4)


def threshold_decision(config: RiskConfig, risk: float, *, attack: bool, sensitive: bool) -> str:
    if risk >= config.block_threshold:
        return "block"
    if risk >= config.challenge_threshold or attack:
        return "challenge"
    if sensitive:
        return "redact"
    return "allow"
