"""Write the configured report formats of a run into one directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from shieldstorm.storm.models import StormRun
from shieldstorm.storm.reports.csv_report import write_csv
from shieldstorm.storm.reports.html import write_html
from shieldstorm.storm.reports.json_report import write_json
from shieldstorm.storm.reports.junit import write_junit
from shieldstorm.storm.reports.markdown import write_markdown

FILE_NAMES = {
    "html": "storm-report.html",
    "json": "storm-report.json",
    "junit": "storm-junit.xml",
    "csv": "storm-results.csv",
    "markdown": "storm-summary.md",
}
WRITERS = {"html": write_html, "json": write_json, "junit": write_junit, "csv": write_csv, "markdown": write_markdown}


def write_reports(run: StormRun, output_dir: Path, formats: Iterable[str]) -> dict[str, Path]:
    """Write each format; return format → path (HTML first: it is the one to open)."""
    written: dict[str, Path] = {}
    for fmt in sorted(set(formats), key=list(FILE_NAMES).index):
        written[fmt] = WRITERS[fmt](run, output_dir / FILE_NAMES[fmt])
    return written
