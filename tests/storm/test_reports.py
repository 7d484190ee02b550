from __future__ import annotations

import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shieldstorm.storm.config import parse_config
from shieldstorm.storm.models import StormRun
from shieldstorm.storm.reports.csv_report import render_csv
from shieldstorm.storm.reports.html import render_comparison, render_html
from shieldstorm.storm.reports.junit import render_junit
from shieldstorm.storm.reports.markdown import render_markdown
from shieldstorm.storm.reports.writer import write_reports
from shieldstorm.storm.runner import run_storm
from tests.storm.agents import TEST_MUTATORS

XSS_PROMPT = (
    '</script><script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
    "<svg onload=\"window.__xss = 3\"></svg>\u0007 =cmd|' /C calc'!A0 | `code` ]]>"
)

AGENT_SOURCE = """
def respond(messages):
    prompt = messages[-1]["content"]
    return "Echo: " + prompt + ' <img src=y onerror="window.__xss = 4">'
"""


@pytest.fixture
async def hostile_run(tmp_path: Path) -> StormRun:
    (tmp_path / "hostile_agent.py").write_text(AGENT_SOURCE, encoding="utf-8")
    config = parse_config(
        {
            "name": "<b>xss</b> suite",
            "agent": {"type": "python", "callable": "hostile_agent:respond"},
            "golden": [{"id": "xss", "prompt": XSS_PROMPT}],
            "invariants": [{"type": "not_contains", "value": "onerror", "name": "<script>window.__xss=5</script>"}],
        },
        base_dir=tmp_path,
    )
    return await run_storm(config, progress=False, mutators=TEST_MUTATORS)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.event_attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.event_attrs.extend(name for name, _ in attrs if name.startswith("on"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_hostile_prompts_and_outputs(hostile_run: StormRun) -> None:
    page = render_html(hostile_run)
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert "img" not in parsed.tags
    assert parsed.event_attrs == []
    assert parsed.tags.count("svg") == 2  # only the two charts
    text = "".join(parsed.text)
    assert XSS_PROMPT.replace("\u0007", "") in text.replace("\u0007", "")  # the prompt is shown, as text
    assert 'onerror="window.__xss = 4"' in text
    assert "Failing cases (2)" in text
    assert "Content-Security-Policy" in page


def test_comparison_page_escapes_and_lists_differences(hostile_run: StormRun) -> None:
    fixed = hostile_run.model_copy(
        update={"results": [r.model_copy(update={"passed": True, "failures": []}) for r in hostile_run.results]}
    )
    page = render_comparison([("direct", hostile_run), ("through <Shield>", fixed)])
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags and parsed.event_attrs == []
    text = "".join(parsed.text)
    assert "through <Shield>" in text
    assert "Cases with different outcomes (2)" in text


def test_junit_csv_markdown_are_well_formed(hostile_run: StormRun, tmp_path: Path) -> None:
    root = ET.fromstring(render_junit(hostile_run))
    assert root.get("tests") == "2"
    failures = root.findall(".//failure")
    assert len(failures) == 2 and "onerror" in (failures[0].text or "")
    rows = list(csv.DictReader(io.StringIO(render_csv(hostile_run))))
    assert len(rows) == 2 and rows[0]["passed"] == "false"
    assert all(not row["input"].startswith("=") for row in rows)
    summary = render_markdown(hostile_run)
    assert "<script>" not in summary and "<img" not in summary
    failing_rows = [line for line in summary.splitlines() if line.startswith("| shout") and "SCRIPT" in line]
    assert len(failing_rows) == 1
    assert len(re.findall(r"(?<!\\)\|", failing_rows[0])) == 5  # the hostile `|` did not add a column
    written = write_reports(hostile_run, tmp_path / "r", ["markdown", "html", "json", "junit", "csv"])
    assert list(written) == ["html", "json", "junit", "csv", "markdown"]
    assert all(path.stat().st_size > 0 for path in written.values())


CHROMIUM = Path("/usr/bin/chromium")


def _browser_flag(path: Path) -> object:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_timeout(300)  # give onerror/onload handlers a chance to fire
            return page.evaluate("() => window.__xss === undefined ? null : window.__xss")
        finally:
            browser.close()


def test_html_report_runs_no_script_in_a_real_browser(hostile_run: StormRun, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("SHIELDSTORM_REQUIRE_SERVICES") == "1":
            pytest.fail("/usr/bin/chromium is required (SHIELDSTORM_REQUIRE_SERVICES=1)")
        pytest.skip("/usr/bin/chromium not installed")
    # Control: the harness does see a script that runs, so a null below means "nothing ran".
    control = tmp_path / "control.html"
    control.write_text("<html><body><script>window.__xss = 'control'</script></body></html>", encoding="utf-8")
    assert _browser_flag(control) == "control"
    report = tmp_path / "report.html"
    report.write_text(render_html(hostile_run), encoding="utf-8")
    assert _browser_flag(report) is None
    comparison = tmp_path / "comparison.html"
    comparison.write_text(render_comparison([("a", hostile_run), ("b", hostile_run)]), encoding="utf-8")
    assert _browser_flag(comparison) is None
