"""The engine through real rego-cpp: decisions of the default policy, fail-closed on every error path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shieldstorm.errors import ConfigError
from shieldstorm.policy import PolicyEngine, PolicyHolder
from shieldstorm.policy.engine import PolicyCompileError

PII = {"pattern_id": "pii.email", "kind": "pii", "category": "contact", "severity": "medium", "entity": "EMAIL"}
SECRET = {"pattern_id": "secret.aws", "kind": "secret", "category": "credentials", "severity": "high", "entity": "AWS"}


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.default()


def write_bundle(root: Path, rego: str, data: str = "{}", revision: str = "7") -> Path:
    (root / "p").mkdir(parents=True, exist_ok=True)
    (root / ".manifest").write_text(f'{{"revision": "{revision}", "roots": ["shield"]}}')
    (root / "p" / "policy.rego").write_text(rego)
    (root / "data.json").write_text(data)
    return root


def test_clean_request_is_allowed(engine: PolicyEngine) -> None:
    decision = engine.evaluate({"tenant": "acme", "method": "POST", "path": "/v1/chat", "risk": 0.0})
    assert decision.decision == "allow"
    assert not decision.fail_mode_applied


def test_attack_with_high_risk_blocks(engine: PolicyEngine) -> None:
    decision = engine.evaluate({"attack": True, "risk": 0.95, "categories": {"jailbreak_persona": 0.95}})
    assert decision.decision == "block"
    assert decision.reasons == ["attack"]
    assert decision.status == 403


def test_medium_risk_is_challenged(engine: PolicyEngine) -> None:
    assert engine.evaluate({"attack": True, "risk": 0.6}).decision == "challenge"
    assert engine.evaluate({"verdict": "review", "risk": 0.1}).decision == "challenge"


def test_pii_is_redacted_by_category(engine: PolicyEngine) -> None:
    decision = engine.evaluate({"detections": [PII], "risk": 0.0})
    assert decision.decision == "redact"
    assert decision.redact == ["contact"]


def test_secret_in_response_blocks_but_is_redacted_in_request(engine: PolicyEngine) -> None:
    assert engine.evaluate({"direction": "response", "detections": [SECRET]}).reasons == ["secret_in_response"]
    request = engine.evaluate({"direction": "request", "detections": [SECRET]})
    assert request.decision == "redact"
    assert request.redact == ["credentials"]


def test_canary_leak_blocks(engine: PolicyEngine) -> None:
    assert engine.evaluate({"canary_leak": True}).reasons == ["canary_leak"]
    canary = {"pattern_id": "canary", "kind": "canary", "category": "sensitive", "severity": "critical"}
    assert engine.evaluate({"detections": [canary]}).decision == "block"


def test_tenant_overrides_and_quotas(engine: PolicyEngine) -> None:
    tenant = {"tenant": "strict-example", "client_ip": "10.1.2.3", "model": "gpt-4o-mini", "tools": ["search"]}
    assert engine.evaluate(tenant).decision == "allow"
    # A lower block threshold for this tenant only.
    assert engine.evaluate({**tenant, "attack": True, "risk": 0.65}).decision == "block"
    assert engine.evaluate({"tenant": "other", "attack": True, "risk": 0.65}).decision == "challenge"
    assert engine.evaluate({**tenant, "model": "gpt-5"}).reasons == ["model_not_allowed"]
    assert engine.evaluate({**tenant, "tools": ["shell"]}).reasons == ["tool_not_allowed"]
    too_big = engine.evaluate({**tenant, "body_size": 70_000})
    assert (too_big.reasons, too_big.status) == (["body_too_large"], 413)
    limited = engine.evaluate({**tenant, "rate": 121})
    assert (limited.reasons, limited.status) == (["rate_exceeded"], 429)


@pytest.mark.parametrize(
    ("client_ip", "allowed"),
    [("10.1.2.3", True), ("192.168.4.4", True), ("10.66.0.9", False), ("8.8.8.8", False), (None, False), ("x", False)],
)
def test_network_acl_computed_in_python(engine: PolicyEngine, client_ip: str | None, allowed: bool) -> None:
    decision = engine.evaluate({"tenant": "strict-example", "client_ip": client_ip})
    assert (decision.decision == "allow") is allowed
    if not allowed:
        assert decision.reasons == ["network_denied"]


def test_default_tenant_has_no_acl(engine: PolicyEngine) -> None:
    assert engine.evaluate({"tenant": "acme", "client_ip": "203.0.113.9"}).decision == "allow"


def test_undefined_result_fails_closed(tmp_path: Path) -> None:
    rego = 'package shield\nimport rego.v1\ndecision := {"decision": "allow"} if input.ok == true\n'
    engine = PolicyEngine.from_directory(write_bundle(tmp_path, rego))
    decision = engine.evaluate({})
    assert (decision.decision, decision.reasons, decision.fail_mode_applied) == ("block", ["policy_error"], True)
    assert engine.evaluate({"ok": True}).decision == "allow"


@pytest.mark.parametrize(
    "expression",
    [
        'regex.match("(?i)admin", input.path)',  # inline flags: undefined in rego-cpp, an error in strict mode
        'time.parse_rfc3339_ns("2026-01-01T00:00:00Z") > 0',  # RFC 3339 with Z
        "1 / input.zero > 0",
    ],
)
def test_builtin_errors_fail_closed(tmp_path: Path, expression: str) -> None:
    rego = f'package shield\nimport rego.v1\ndecision := {{"decision": "allow"}} if {{\n  {expression}\n}}\n'
    engine = PolicyEngine.from_directory(write_bundle(tmp_path, rego))
    decision = engine.evaluate({"path": "/ADMIN", "zero": 0})
    assert decision.decision == "block"
    assert decision.fail_mode_applied


def test_wrong_shape_fails_closed_and_challenge_mode(tmp_path: Path) -> None:
    rego = 'package shield\nimport rego.v1\ndecision := {"decision": "yes please"}\n'
    engine = PolicyEngine.from_directory(write_bundle(tmp_path, rego), fail_mode="challenge")
    decision = engine.evaluate({})
    assert (decision.decision, decision.fail_mode_applied) == ("challenge", True)
    assert decision.error


def test_complete_rule_conflict_fails_closed(tmp_path: Path) -> None:
    rego = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "allow"} if input.a\n'
        'decision := {"decision": "block"} if input.b\n'
    )
    engine = PolicyEngine.from_directory(write_bundle(tmp_path, rego))
    assert engine.evaluate({"a": True}).decision == "allow"
    assert engine.evaluate({"a": True, "b": True}).fail_mode_applied


def test_unserialisable_input_fails_closed(engine: PolicyEngine) -> None:
    assert engine.evaluate({"tenant": object()}).fail_mode_applied


def test_compile_error_and_bad_fail_mode(tmp_path: Path) -> None:
    with pytest.raises(PolicyCompileError, match=r"p/policy\.rego:2\)"):
        PolicyEngine.from_directory(write_bundle(tmp_path, "package shield\ndecision := := 1\n"))
    with pytest.raises(ConfigError):
        PolicyEngine.default(fail_mode="open")


def test_holder_swap_is_atomic_under_concurrency(tmp_path: Path) -> None:
    def engine_for(reason: str, rev: str) -> PolicyEngine:
        rego = (
            "package shield\nimport rego.v1\n"
            f'decision := {{"decision": "block", "reasons": ["{reason}", "{reason}-2"]}}\n'
        )
        return PolicyEngine.from_directory(write_bundle(tmp_path / rev, rego, revision=rev))

    old, new = engine_for("old", "1"), engine_for("new", "2")
    holder = PolicyHolder(old)
    seen: list[list[str]] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            seen.append(holder.evaluate({}).reasons)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(seen) < 50:  # let the workers get going before swapping under them
        time.sleep(0.001)
    for _ in range(20):
        holder.swap(new)
        time.sleep(0.001)
        holder.swap(old)
    holder.swap(new)
    mark = len(seen)
    while len(seen) < mark + 50:
        time.sleep(0.001)
    stop.set()
    for thread in threads:
        thread.join()
    assert all(r in (["old", "old-2"], ["new", "new-2"]) for r in seen)
    assert ["old", "old-2"] in seen and ["new", "new-2"] in seen
    assert holder.evaluate({}).reasons == ["new", "new-2"]
    assert holder.engine.revision == "2"


def test_holder_records_shadow_divergences(engine: PolicyEngine, tmp_path: Path) -> None:
    strict = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "block", "reasons": ["strict"], "status": 403} if input.risk > 0.1\n'
        'else := {"decision": "allow"}\n'
    )
    holder = PolicyHolder(engine)
    holder.set_candidate(PolicyEngine.from_directory(write_bundle(tmp_path, strict, revision="9")))
    assert holder.evaluate({"risk": 0.3}).decision == "allow"  # the active decision is enforced
    assert holder.evaluate({"risk": 0.0}).decision == "allow"
    assert len(holder.divergences) == 1
    divergence = holder.divergences[0]
    assert (divergence.active["decision"], divergence.candidate["decision"]) == ("allow", "block")
    assert divergence.input_digest.startswith("sha256:")
    holder.promote()
    assert holder.evaluate({"risk": 0.3}).decision == "block"


def test_shadow_in_background_records_the_same_divergences(engine: PolicyEngine, tmp_path: Path) -> None:
    strict = (
        "package shield\nimport rego.v1\n"
        'decision := {"decision": "block", "reasons": ["strict"], "status": 403} if input.risk > 0.1\n'
        'else := {"decision": "allow"}\n'
    )
    holder = PolicyHolder(engine, shadow_in_background=True)
    holder.set_candidate(PolicyEngine.from_directory(write_bundle(tmp_path, strict, revision="9")))
    decisions = [holder.evaluate({"risk": r / 10}).decision for r in range(5)]
    holder.wait_for_shadow()
    assert decisions == ["allow"] * 5
    assert (holder.shadow_evaluated, holder.shadow_dropped) == (5, 0)
    assert len(holder.divergences) == 3  # risk 0.2, 0.3, 0.4: allowed by the default policy, blocked by the candidate
