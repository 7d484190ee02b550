"""Shared helpers of the detect CLI commands (building a detector, rendering findings)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shieldstorm.detect.config import DetectorConfig
from shieldstorm.detect.detector import Detector
from shieldstorm.detect.models import ScanResult

_VERDICT_STYLE = {"allow": "bold green", "review": "bold yellow", "block": "bold red"}
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def build_detector(
    patterns: list[Path] | None, *, builtins: bool = True, engine: str = "auto", max_input_chars: int | None = None
) -> Detector:
    if not patterns and builtins and engine == "auto" and max_input_chars is None:
        return Detector.default()
    cfg: dict[str, object] = {"engine": engine}
    if max_input_chars is not None:
        cfg["max_input_chars"] = max_input_chars
    return Detector.from_paths(patterns or [], DetectorConfig.model_validate(cfg), builtins=builtins)


def shorten(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def findings_table(result: ScanResult, source: str | None = None, title: str = "Findings") -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    if source is not None:
        table.add_column("line", justify="right")
    for col in ("pattern", "kind", "category", "severity", "span", "text", "via"):
        table.add_column(col)
    for f in result.findings:
        row: list[Text | str] = []
        if source is not None:
            row.append(str(source.count("\n", 0, f.start) + 1))
        row += [
            f.pattern_id,
            f.kind.value,
            f.category,
            Text(f.severity.value, style=_SEVERITY_STYLE[f.severity.value]),
            f"{f.start}-{f.end}",
            Text(shorten(f.text)),  # Text, not markup: scanned input must never be interpreted by Rich
            f.decoded_from or "",
        ]
        table.add_row(*row)
    return table


def print_result(console: Console, result: ScanResult, source: str | None = None, *, table: bool = True) -> None:
    if table and result.findings:
        console.print(findings_table(result, source))
    verdict = result.verdict.value
    line = Text.assemble(
        ("verdict ", "bold"),
        (verdict, _VERDICT_STYLE[verdict]),
        f"  risk {result.risk:.2f}  attack {str(result.attack).lower()}  findings {len(result.findings)}",
    )
    console.print(line)
    if result.categories:
        console.print(Text("categories " + ", ".join(f"{k}={v:.2f}" for k, v in result.categories.items())))
    if result.incomplete:
        # Why a verdict is at least review although the findings alone would not say so.
        bounds = ", ".join(result.incomplete)
        console.print(Text(f"not fully inspected (scan bounds reached): {bounds}", style="yellow"))
