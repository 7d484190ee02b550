"""The default policy, restructured for speed, decides exactly as the policy it replaced (ef4670e), alone and
layered with every preset, on random inputs: tenants with and without overrides (and unknown ones), missing
optional keys, detections of every kind, quotas at and around their limits, both directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.engine import PRESETS_DIR, PolicyEngine, default_bundle

OLD_POLICY = (Path(__file__).parent / "data" / "default_decision_ef4670e.rego").read_bytes()
PRESETS = sorted(p.name for p in PRESETS_DIR.iterdir() if p.is_dir())


def _pair(presets: list[str]) -> tuple[PolicyEngine, PolicyEngine]:
    new = default_bundle(presets)
    old = PolicyBundle(files={**new.files, "shield/decision.rego": OLD_POLICY}, source="ef4670e")
    return (PolicyEngine(new, cache_entries=0), PolicyEngine(old, cache_entries=0))


ENGINES = {name: _pair([name] if name else []) for name in ["", *PRESETS]}

detection = st.fixed_dictionaries(
    {
        "pattern_id": st.sampled_from(["PI-OVR-001", "pii.email", "sec.aws", "canary.1", "pci.card"]),
        "kind": st.sampled_from(["injection", "pii", "secret", "canary", "jailbreak"]),
        "category": st.sampled_from(["direct_override", "contact", "credentials", "financial", "health", "other"]),
        "severity": st.sampled_from(["low", "medium", "high", "critical"]),
        "entity": st.sampled_from([None, "EMAIL", "AWS_KEY", "CREDIT_CARD", "MEDICAL_RECORD", "PHONE"]),
    }
)

optional: dict[str, st.SearchStrategy[Any]] = {
    "tenant": st.sampled_from(["default", "acme", "strict-example", ""]),
    "principal": st.sampled_from(["svc", "anonymous", ""]),
    "client_ip": st.sampled_from(["127.0.0.1", "10.1.2.3", "10.66.0.9", "192.168.1.1", "8.8.8.8", "not-an-ip"]),
    "detections": st.lists(detection, max_size=4),
    "attack": st.booleans(),
    "verdict": st.sampled_from(["allow", "review", "block"]),
    "risk": st.one_of(st.sampled_from([0, 0.29, 0.3, 0.5, 0.59, 0.6, 0.79, 0.8, 1.0]), st.floats(0, 1)),
    "rate": st.one_of(st.sampled_from([0, 119.0, 120, 121.5]), st.floats(0, 10_000)),
    "body_size": st.sampled_from([0, 900, 65_536, 65_537, 1_048_576, 1_048_577]),
    "model": st.sampled_from(["gpt-4o-mini", "helpbot-1", "", None]),
    "tools": st.lists(st.sampled_from(["search", "shell", "email"]), max_size=6),
    "direction": st.sampled_from(["request", "response"]),
    "canary_leak": st.booleans(),
}


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.sets(st.sampled_from(sorted(optional))))
    return {key: draw(optional[key]) for key in sorted(keys)}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents(), layer=st.sampled_from(sorted(ENGINES)))
def test_restructured_default_policy_decides_like_the_old_one(document: dict[str, Any], layer: str) -> None:
    new, old = ENGINES[layer]
    assert new.evaluate_json(new.prepare_input(document)) == old.evaluate_json(old.prepare_input(document))
