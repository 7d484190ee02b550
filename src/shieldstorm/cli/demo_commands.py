"""`shieldstorm demo` (interim): scan the bundled sample file and print the findings table."""

from __future__ import annotations

from importlib import resources

import typer
from rich.console import Console
from rich.rule import Rule
from rich.text import Text


def demo() -> None:
    """Scan a bundled sample (attacks, PII, secrets and benign text) with the built-in patterns."""
    from shieldstorm.detect import Detector
    from shieldstorm.detect.cli_support import findings_table, print_result

    sample = resources.files("shieldstorm.detect.data").joinpath("sample.txt").read_text("utf-8")
    console = Console()
    detector = Detector.default()
    console.print(Rule(f"ShieldStorm detect demo: {len(detector.patterns)} patterns, engine {detector.engine}"))
    result = detector.scan(sample)
    console.print(findings_table(result, source=sample, title="Findings in the bundled sample"))
    print_result(console, result, table=False)
    console.print(Rule("Per line"))
    for n, line in enumerate(sample.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        r = detector.scan(line)
        console.print(Text(f"{n:>3} {r.verdict.value:<6} risk {r.risk:.2f}  {line[:90]}"))
    console.print(Rule("Redacted (placeholders)"))
    console.print(Text(detector.redact(sample, result=result).text))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
