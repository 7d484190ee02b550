"""JUnit XML: one test suite per mutation type, one test case per mutated input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from shieldstorm.storm.models import CaseResult, StormRun

# XML 1.0 cannot carry most C0 controls even escaped; mutations (and agents) produce them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _case_element(result: CaseResult) -> ET.Element:
    case = ET.Element(
        "testcase",
        name=_clean(f"{result.golden_id}/{result.mutation_type}/{result.id}"),
        classname=_clean(f"storm.{result.mutation_type}"),
        time=f"{result.latency_ms / 1000:.3f}",
    )
    if not result.passed:
        kind = "error" if result.error is not None else "failure"
        message = "; ".join(f"{f.invariant} ({f.severity}): {f.reason}" for f in result.failures)
        node = ET.SubElement(case, kind, message=_clean(message[:1000]), type=result.failures[0].invariant)
        node.text = _clean(f"input:\n{result.input}\n\noutput:\n{result.error or result.output}\n\n{message}")
    return case


def render_junit(run: StormRun) -> str:
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for result in run.results:
        groups[result.mutation_type].append(result)
    root = ET.Element(
        "testsuites",
        name=_clean(f"storm {run.name}"),
        tests=str(run.total),
        failures=str(sum(1 for r in run.results if not r.passed and r.error is None)),
        errors=str(sum(1 for r in run.results if r.error is not None)),
        time=f"{run.duration_s:.3f}",
    )
    for name in sorted(groups):
        cases = groups[name]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_clean(f"storm.{name}"),
            tests=str(len(cases)),
            failures=str(sum(1 for r in cases if not r.passed and r.error is None)),
            errors=str(sum(1 for r in cases if r.error is not None)),
            time=f"{sum(r.latency_ms for r in cases) / 1000:.3f}",
        )
        for result in cases:
            suite.append(_case_element(result))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: StormRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(run), encoding="utf-8")
    return path
