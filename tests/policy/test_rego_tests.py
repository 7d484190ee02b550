"""`policy test`: Rego test_ rules through rego-cpp, per-test outcomes, rule coverage, crash isolation."""

from __future__ import annotations

from pathlib import Path

from shieldstorm.policy.bundle import load_bundle
from shieldstorm.policy.engine import DEFAULT_POLICY_DIR
from shieldstorm.policy.testing import run_tests, run_tests_isolated

POLICY = """package shield
import rego.v1

default risk := 0

risk := input.risk

block_reasons contains "risky" if risk > 0.5

never contains "x" if input.impossible == "yes"

decision := {"decision": "block", "reasons": sort([r | some r in block_reasons])} if count(block_reasons) > 0
else := {"decision": "allow"}
"""

TESTS = """package shield
import rego.v1

test_risky_blocks if {
    d := decision with input as {"risk": 0.9}
    d.reasons == ["risky"]
}

test_wrong_expectation if {
    decision.decision == "allow" with input as {"risk": 0.9}
}

test_two_inputs if {
    decision.decision == "allow" with input as {"risk": 0.1}
    decision.decision == "block" with input as {"risk": 0.9}
}

test_data_override if {
    decision.decision == "allow" with input as {"risk": 0.9} with data.shield.unused as 1
    false
}
"""


def make(tmp_path: Path, tests: str = TESTS, policy: str = POLICY) -> Path:
    (tmp_path / "shield").mkdir(parents=True, exist_ok=True)
    (tmp_path / ".manifest").write_text('{"revision": "1"}')
    (tmp_path / "shield" / "policy.rego").write_text(policy)
    (tmp_path / "shield" / "policy_test.rego").write_text(tests)
    return tmp_path


def test_default_policy_tests_all_pass_with_full_rule_coverage() -> None:
    report = run_tests(load_bundle(DEFAULT_POLICY_DIR))
    assert report.error is None
    assert len(report.results) >= 10
    assert all(r.outcome == "pass" for r in report.results), [r.name for r in report.results if r.outcome != "pass"]
    assert "shield/block_reasons" in report.rules_hit
    assert report.coverage == 1.0


def test_outcomes_and_rules_hit(tmp_path: Path) -> None:
    report = run_tests(load_bundle(make(tmp_path)))
    outcomes = {r.name: r.outcome for r in report.results}
    assert outcomes == {
        "test_risky_blocks": "pass",
        "test_wrong_expectation": "fail",
        "test_two_inputs": "error",
        "test_data_override": "fail",
    }
    risky = next(r for r in report.results if r.name == "test_risky_blocks")
    assert "shield/block_reasons" in risky.rules_hit
    assert risky.line == 4
    assert "shield/never" not in report.rules_hit
    assert not report.ok


def test_rego_cpp_abort_is_contained_in_child_process(tmp_path: Path) -> None:
    # rego-cpp 1.5 aborts (std::runtime_error) on `with input as` over a computed rule inside a policy rule.
    policy = POLICY + "helper := 1 + 0\ncrash if {\n    helper == 1 with input as {}\n}\n"
    passing = "package shield\nimport rego.v1\ntest_ok if {\n    crash\n}\n"
    report = run_tests_isolated(make(tmp_path, passing, policy))
    assert not report.ok
    assert report.error is not None
    assert "crashed" in report.error


def test_isolated_run_of_good_bundle(tmp_path: Path) -> None:
    passing = (
        "package shield\nimport rego.v1\n"
        'test_ok if {\n    decision.decision == "block" with input as {"risk": 0.9}\n}\n'
    )
    report = run_tests_isolated(make(tmp_path, passing))
    assert report.ok
    assert report.passed == 1


def test_compile_error_is_reported(tmp_path: Path) -> None:
    report = run_tests_isolated(make(tmp_path, "package shield\ntest_x if { := }\n"))
    assert report.error is not None
    assert not report.ok
