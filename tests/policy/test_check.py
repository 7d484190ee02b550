"""`policy check`: findings at file:line with witnesses, on a deliberately flawed bundle and the default policy."""

from __future__ import annotations

from pathlib import Path

from shieldstorm.policy.bundle import load_bundle
from shieldstorm.policy.check import Finding, check_bundle, check_isolated
from shieldstorm.policy.engine import DEFAULT_POLICY_DIR, PolicyEngine

FLAWED = """package shield

import rego.v1

allow if input.risk < 0.9

deny if input.attack == true

level := "a" if input.attack == true

level := "b" if input.risk > 0.5

orphan := 1

near if net.cidr_contains("10.0.0.0/8", input.client_ip)

admin if regex.match("(?i)admin", input.path)

s contains "x" if true

listed := sort(s)

decision := {"decision": "block", "reasons": [level, listed[0]]} if {
	deny
	not allow
	near
	admin
} else := {"decision": "allow"}
"""


def by_kind(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for finding in findings:
        out.setdefault(finding.kind, []).append(finding)
    return out


def test_flawed_bundle_findings(tmp_path: Path) -> None:
    (tmp_path / "shield").mkdir()
    (tmp_path / "shield" / "policy.rego").write_text(FLAWED)
    findings = check_isolated(tmp_path)
    kinds = by_kind(findings)
    contradiction = kinds["contradictory-decisions"][0]
    assert (contradiction.file, contradiction.line) == ("shield/policy.rego", 5)
    assert contradiction.witness is not None
    # The witness really produces both decisions.
    assert contradiction.witness["attack"] is True and contradiction.witness["risk"] < 0.9
    conflict = kinds["complete-rule-conflict"][0]
    assert conflict.line == 11 and conflict.witness == {"attack": True, "risk": conflict.witness["risk"]}
    assert [f.line for f in kinds["unreachable-rule"]] == [13]
    assert [f.line for f in kinds["unsupported-builtin"]] == [15]
    divergent = {(f.line, f.message.split("(")[0]) for f in kinds["divergent-builtin"]}
    assert divergent == {(17, "regex.match"), (21, "sort")}
    assert "evaluation-error" in kinds


def test_default_policy_has_no_errors() -> None:
    findings = check_bundle(load_bundle(DEFAULT_POLICY_DIR))
    assert [f.render() for f in findings if f.severity == "error"] == []
    assert PolicyEngine.default().evaluate({}).decision == "allow"
