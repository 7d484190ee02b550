"""Rego unit tests as `opa test` runs them: every `test_*` rule must evaluate to true.

Tests run through compiled bundle entry points (rego-cpp ignores `with` in ad-hoc query strings but honours
it inside rule bodies, which is where test rules use it). Rule coverage ("which rules were hit") is
measured with a generated probe module: for each `with input as X` in a test, one probe per policy rule
asks whether that rule is defined (a non-empty set) under the same `with` clauses.

Untrusted bundles must go through `run_tests_isolated`, which runs this in a child process: a `print` in a
rule crashes rego-cpp, and a crash there must become a failed validation, not a dead Shield.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.engine import PolicyCompileError, compile_bundle, parse_output
from shieldstorm.policy.rego_source import RuleHead, hoist_input, rule_heads, top_level_chunks, with_groups

PROBE_MODULE = "__shieldstorm_coverage_probe.rego"


class TestResult(BaseModel):
    name: str
    package: str
    file: str
    line: int
    outcome: str  # "pass" | "fail" | "error"
    rules_hit: list[str] = Field(default_factory=list)
    message: str | None = None


class TestReport(BaseModel):
    results: list[TestResult] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list, description="All policy rules (package/name)")
    rules_hit: list[str] = Field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> int:
        return sum(r.outcome == "pass" for r in self.results)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.results) and all(r.outcome == "pass" for r in self.results)

    @property
    def coverage(self) -> float:
        return len(self.rules_hit) / len(self.rules) if self.rules else 0.0


def _policy_rules(bundle: PolicyBundle) -> list[RuleHead]:
    seen: dict[str, RuleHead] = {}
    for name, source in bundle.modules().items():
        for head in rule_heads(name, source):
            if head.kind in ("function", "test"):
                continue
            seen.setdefault(head.path, head)
    return list(seen.values())


@dataclass
class _Test:
    head: RuleHead
    body: str
    inputs: list[str]
    data_withs: list[tuple[str, str]]
    input_rule: str | None = None


def _prepare(bundle: PolicyBundle) -> tuple[PolicyBundle, list[_Test]]:
    """Rewrite test modules so each test runs with its `with input as X` value as the real input."""
    files = dict(bundle.files)
    tests: list[_Test] = []
    for name, source in bundle.modules(include_tests=True).items():
        heads = {h.name: h for h in rule_heads(name, source) if h.kind == "test"}
        if not heads:
            continue
        out: list[str] = []
        extra: list[str] = []
        seen: set[str] = set()
        for rule, text in top_level_chunks(source):
            if rule is None or rule not in heads:
                out.append(text)
                continue
            hoisted, values = hoist_input(text)
            out.append(hoisted)
            if rule in seen:
                continue
            seen.add(rule)
            withs = [w for group in with_groups(hoisted) for w in group if w[0].startswith("data.")]
            test = _Test(heads[rule], hoisted, values, withs)
            if len(values) == 1:
                test.input_rule = f"__ss_input_{len(tests)}"
                extra.append(f"\n{test.input_rule} := {values[0]}\n")
            tests.append(test)
        files[name] = ("".join(out) + "".join(extra)).encode()
    return PolicyBundle(files=files, source=bundle.source), tests


def _probe_module(tests: list[_Test], rules: list[RuleHead]) -> tuple[str, dict[str, tuple[int, str]]]:
    lines = [
        "package __shieldstorm_cov",
        "import rego.v1",
        "__hit(x) if not is_set(x)",
        "__hit(x) if {",
        "\tis_set(x)",
        "\tcount(x) > 0",
        "}",
    ]
    probes: dict[str, tuple[int, str]] = {}
    for index, test in enumerate(tests):
        if len(test.inputs) > 1:
            continue
        clauses = " ".join(f"with {target} as {value}" for target, value in test.data_withs)
        for rule_index, rule in enumerate(rules):
            probe = f"p_{index}_{rule_index}"
            ref = "data." + rule.path.replace("/", ".")
            lines.append(f"{probe} if {{\n\t__x := {ref} {clauses}\n\t__hit(__x)\n}}")
            probes[probe] = (index, rule.path)
    return "\n".join(lines) + "\n", probes


def _outcome(output: Any) -> str:
    if not output.ok():
        return "error"
    try:
        return "pass" if parse_output(str(output)) is True else "fail"
    except ValueError:
        return "fail"


MULTI_INPUT = "several `with input as` values in one test: split it (rego-cpp cannot override input per expression)"


def run_tests(bundle: PolicyBundle, *, coverage: bool = True) -> TestReport:
    """Run the bundle's tests in this process (only for trusted bundles; see `run_tests_isolated`)."""
    from regopy import Input

    rules = _policy_rules(bundle)
    report = TestReport(rules=sorted(r.path for r in rules))
    prepared, tests = _prepare(bundle)
    if not tests:
        report.error = "no test_ rules found"
        return report
    entrypoints = [t.head.path for t in tests]
    entrypoints += ["/".join([*t.head.package.split("."), t.input_rule]) for t in tests if t.input_rule]
    probes: dict[str, tuple[int, str]] = {}
    files = dict(prepared.files)
    if coverage and rules:
        module, probes = _probe_module(tests, rules)
        files[PROBE_MODULE] = module.encode()
        entrypoints += [f"__shieldstorm_cov/{p}" for p in probes]
    try:
        program = PolicyBundle(files=files, source=bundle.source)
        interpreter, compiled = compile_bundle(program, entrypoints, include_tests=True)
    except PolicyCompileError as exc:
        report.error = str(exc)
        return report
    hits: dict[int, set[str]] = {}
    by_test: dict[int, list[str]] = {}
    for probe, (index, _path) in probes.items():
        by_test.setdefault(index, []).append(probe)
    for index, test in enumerate(tests):
        document: Any = {}
        outcome = "error" if len(test.inputs) > 1 else ""
        if not outcome and test.input_rule:
            interpreter.set_input(Input({}))
            output = interpreter.query_bundle_entrypoint(
                compiled, f"{test.head.package.replace('.', '/')}/{test.input_rule}"
            )
            try:
                document = parse_output(str(output)) if output.ok() else None
            except ValueError:
                document = None
            if document is None:
                outcome = "error"
        if not outcome:
            interpreter.set_input(Input(document))
            outcome = _outcome(interpreter.query_bundle_entrypoint(compiled, test.head.path))
            for probe in by_test.get(index, []):
                if _outcome(interpreter.query_bundle_entrypoint(compiled, f"__shieldstorm_cov/{probe}")) == "pass":
                    hits.setdefault(index, set()).add(probes[probe][1])
        report.results.append(
            TestResult(
                name=test.head.name,
                package=test.head.package,
                file=test.head.file,
                line=test.head.line,
                outcome=outcome,
                rules_hit=sorted(hits.get(index, set())),
                message=MULTI_INPUT if len(test.inputs) > 1 else None,
            )
        )
    report.rules_hit = sorted(set().union(*hits.values())) if hits else []
    return report


def run_tests_isolated(bundle_path: str | Path, *, timeout: float = 120.0) -> TestReport:
    """Compile and test a bundle in a child process; a crash or hang becomes a report with an error."""
    with tempfile.TemporaryDirectory(prefix="ss-policy-test-") as tmp:
        out = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "shieldstorm.policy.validate", str(bundle_path), "--report", str(out)]
        try:
            proc = subprocess.run(
                command, capture_output=True, timeout=timeout, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        except subprocess.TimeoutExpired:
            return TestReport(error=f"policy validation timed out after {timeout:.0f}s")
        if out.exists():
            payload: dict[str, Any] = json.loads(out.read_text())
            return TestReport.model_validate(payload)
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        return TestReport(error=f"policy validation crashed ({proc.returncode}): {tail[0][:200]}")
