"""CSV: one row per mutated input. Cells that a spreadsheet would run as formulas are defused."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from shieldstorm.storm.models import StormRun

COLUMNS = (
    "id",
    "golden_id",
    "mutation_type",
    "variant",
    "weight",
    "passed",
    "latency_ms",
    "error",
    "failed_invariants",
    "reasons",
    "input",
    "output",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A prompt like "=HYPERLINK(...)" must stay text when the CSV is opened in a spreadsheet (CSV injection).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def render_csv(run: StormRun) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in run.results:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    r.id,
                    r.golden_id,
                    r.mutation_type,
                    r.variant,
                    r.weight,
                    "true" if r.passed else "false",
                    f"{r.latency_ms:.1f}",
                    r.error,
                    ";".join(f.invariant for f in r.failures),
                    " | ".join(f.reason for f in r.failures),
                    r.input,
                    r.output,
                )
            ]
        )
    return buffer.getvalue()


def write_csv(run: StormRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_csv(run), encoding="utf-8", newline="")
    return path
