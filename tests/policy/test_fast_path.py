"""The engine's per-request fast path: input trimming, the direct rego-cpp binding, the output shortcut."""

from __future__ import annotations

from typing import Any

import pytest

from shieldstorm.policy import PolicyEngine
from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.engine import PolicyDecision, _fast_decision, _RegoOutput, parse_output
from shieldstorm.policy.rego_source import code_only, input_keys
from shieldstorm.policy.regofast import build_input, free_input


def test_input_keys_reads_dotted_references_only() -> None:
    assert input_keys(["x := input.a.b\ny if input.c == 1"]) == {"a", "c"}
    # comments, strings and fields named `input` are not references to the input document
    assert input_keys(['# input\nx := "input[0]"\ny := data.input\nz := `input`\nw := input.k']) == {"k"}
    for source in (
        "x := input",
        'x := input["a"]',
        "import input",
        'x := object.get(input, "a", 1)',
        "x if { some k, v in input }",
    ):
        assert input_keys([source]) is None, source


def test_code_only_strips_comments_and_strings() -> None:
    assert code_only('a := "x # y" # z\nb := `r\n#`') == 'a := "" \nb := ""'


def test_default_policy_reads_a_known_key_set() -> None:
    engine = PolicyEngine.default()
    assert engine._input_keys is not None
    assert {"tenant", "detections", "network", "risk", "attack"} <= engine._input_keys
    assert "path" not in engine._input_keys


def _bundle(rego: str) -> PolicyBundle:
    return PolicyBundle(files={"shield/decision.rego": rego.encode()}, source="test")


def test_policy_iterating_input_gets_every_key() -> None:
    rego = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "block", "reasons": [k], "redact": [], "status": 403, "headers": {}} if {\n'
        '\tsome k, v in input\n\tv == "needle"\n}\n'
        'else := {"decision": "allow", "reasons": [], "redact": [], "status": null, "headers": {}}\n'
    )
    engine = PolicyEngine(_bundle(rego))
    assert engine._input_keys is None
    assert engine.evaluate({"path": "needle"}).reasons == ["path"]
    assert engine.evaluate({"path": "hay"}).decision == "allow"


def test_trimmed_keys_do_not_change_decisions() -> None:
    engine = PolicyEngine.default()
    document: dict[str, Any] = {"tenant": "acme", "risk": 0.9, "attack": True, "path": "/x", "headers": {"a": "b"}}
    full = engine.evaluate_json(engine.prepare_input(document))
    assert parse_output(full)["decision"] == "block"


@pytest.mark.parametrize(
    "value",
    [
        {"decision": "allow", "reasons": [], "redact": [], "status": None, "headers": {}},
        {"decision": "block", "reasons": ["a"], "redact": ["b"], "status": 403, "headers": {"X": "y"}},
    ],
)
def test_fast_decision_matches_validated_decision(value: dict[str, Any]) -> None:
    fast = _fast_decision(value)
    slow = PolicyDecision(**_RegoOutput.model_validate(value).model_dump())
    assert fast is not None
    assert fast == slow and fast.model_fields_set == slow.model_fields_set


@pytest.mark.parametrize(
    "value",
    [
        {"decision": "allow", "reasons": [], "redact": [], "status": True, "headers": {}},
        {"decision": "allow", "reasons": [], "redact": [], "status": 1.0, "headers": {}},
        {"decision": "open", "reasons": [], "redact": [], "status": None, "headers": {}},
        {"decision": "allow", "reasons": [1], "redact": [], "status": None, "headers": {}},
        {"decision": "allow", "reasons": [], "redact": [], "status": None, "headers": {"a": 1}},
        {"decision": "allow", "reasons": [], "redact": [], "status": None},
        {"decision": "allow", "reasons": [], "redact": [], "status": None, "headers": {}, "extra": 1},
        ["allow"],
    ],
)
def test_fast_decision_defers_anything_unusual(value: Any) -> None:
    assert _fast_decision(value) is None


def test_build_input_rejects_unconvertible_values() -> None:
    with pytest.raises(ValueError):
        build_input({"x": object()})
    free_input(build_input({"s": {1, 2}, "t": (1, "a"), "b": True, "f": 1.5, "n": None}))


def test_unconvertible_input_is_a_fail_mode_decision() -> None:
    decision = PolicyEngine.default().evaluate({"tenant": "acme", "risk": object()})
    assert decision.fail_mode_applied and decision.decision == "block"


def test_redact_rule_handles_detections_missing_entity_or_category() -> None:
    engine = PolicyEngine.default()
    only_category = {"kind": "pii", "category": "contact"}
    only_entity = {"kind": "secret", "entity": "credentials"}
    decision = engine.evaluate({"tenant": "acme", "detections": [only_category, only_entity]})
    assert decision.decision == "redact"
    assert decision.redact == ["contact", "credentials"]
