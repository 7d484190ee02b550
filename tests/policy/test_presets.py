"""Compliance presets layered on the default policy: their own Rego tests and end-to-end decisions."""

from __future__ import annotations

import pytest

from shieldstorm.errors import ConfigError
from shieldstorm.policy import PolicyEngine
from shieldstorm.policy.engine import default_bundle
from shieldstorm.policy.testing import run_tests

CARD = {"pattern_id": "pii.cc", "kind": "pii", "category": "financial", "severity": "high", "entity": "CREDIT_CARD"}
EMAIL = {"pattern_id": "pii.email", "kind": "pii", "category": "contact", "severity": "low", "entity": "EMAIL"}


@pytest.mark.parametrize("preset", ["pci_dss", "hipaa", "gdpr", "soc2"])
def test_preset_rego_tests_pass(preset: str) -> None:
    report = run_tests(default_bundle([preset]), coverage=False)
    assert report.error is None
    assert len(report.results) >= 3
    assert [r.name for r in report.results if r.outcome != "pass"] == []


def test_pci_card_data_never_leaves() -> None:
    engine = PolicyEngine.default(presets=["pci_dss"])
    response = engine.evaluate({"direction": "response", "detections": [CARD]})
    assert response.decision == "block"
    assert "pci_card_data_egress" in response.reasons
    # Without the preset a card number in a response is only redacted.
    assert PolicyEngine.default().evaluate({"direction": "response", "detections": [CARD]}).decision == "redact"


def test_hipaa_phi_redacted() -> None:
    engine = PolicyEngine.default(presets=["hipaa"])
    mrn = {**EMAIL, "entity": "MRN", "category": "identification"}
    decision = engine.evaluate({"direction": "response", "detections": [mrn]})
    assert decision.decision == "redact"
    assert "MRN" in decision.redact


def test_gdpr_region_tag_and_transfer_block() -> None:
    engine = PolicyEngine.default(presets=["gdpr"])
    assert engine.evaluate({"model": "gpt-4o-mini", "detections": [EMAIL]}).reasons == ["gdpr_transfer_outside_region"]
    in_region = engine.evaluate({"model": "mistral-large", "detections": [EMAIL]})
    assert (in_region.decision, in_region.redact) == ("redact", ["contact"])
    assert in_region.headers["X-Data-Region"] == "unspecified"


def test_soc2_everything_audited() -> None:
    engine = PolicyEngine.default(presets=["soc2"])
    allowed = engine.evaluate({"principal": "svc"})
    assert allowed.decision == "allow"
    assert allowed.headers["X-Shield-Audit"] == "required"
    assert engine.evaluate({}).reasons == ["unauthenticated"]


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown policy preset"):
        PolicyEngine.default(presets=["iso27001"])
