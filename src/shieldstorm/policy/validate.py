"""Child-process validation of a candidate bundle: compile the serving entry point, then run its own tests.

Run as `python -m shieldstorm.policy.validate BUNDLE --report OUT.json`. The parent reads OUT.json; if the
child crashes (rego-cpp aborts on some inputs, e.g. `print` in a rule), no report is written and the
parent treats the bundle as rejected while the running policy keeps serving.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shieldstorm.errors import ShieldStormError
from shieldstorm.policy.bundle import load_bundle
from shieldstorm.policy.engine import ENTRYPOINT, PolicyEngine
from shieldstorm.policy.testing import TestReport, run_tests


def validate(path: str, *, entrypoint: str = ENTRYPOINT, require_tests: bool = False) -> TestReport:
    try:
        bundle = load_bundle(path)
        PolicyEngine(bundle, entrypoint=entrypoint)
    except ShieldStormError as exc:
        return TestReport(error=str(exc))
    report = run_tests(bundle)
    if report.error == "no test_ rules found" and not require_tests:
        report.error = None
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shieldstorm.policy.validate")
    parser.add_argument("bundle")
    parser.add_argument("--report", required=True)
    parser.add_argument("--entrypoint", default=ENTRYPOINT)
    parser.add_argument("--require-tests", action="store_true")
    args = parser.parse_args(argv)
    report = validate(args.bundle, entrypoint=args.entrypoint, require_tests=args.require_tests)
    Path(args.report).write_text(json.dumps(report.model_dump()))
    return 0 if report.error is None and all(r.outcome == "pass" for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
