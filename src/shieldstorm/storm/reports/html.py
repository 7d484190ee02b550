"""Self-contained HTML reports: inline CSS and SVG charts, no scripts, every value autoescaped.

Flakestorm's report had stored XSS (a prompt with `</script>` broke out). Here the Jinja2 environment
escapes everything, the page carries a CSP that forbids scripts, and tests check both in a real browser.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from shieldstorm import __version__
from shieldstorm.storm.models import Breakdown, CaseResult, StormRun


def score_colour(score: float) -> str:
    if score >= 0.9:
        return "#1a7f37"
    if score >= 0.7:
        return "#9a6700"
    return "#cf222e"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("shieldstorm.storm.reports", "templates"),
        autoescape=True,  # every template, whatever its extension
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.globals["score_colour"] = score_colour
    return env


def render_html(run: StormRun) -> str:
    failing = [r for r in run.results if not r.passed]
    return environment().get_template("report.html.j2").render(
        run=run, card=run.score_card, failing=failing, version=__version__
    )


def write_html(run: StormRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run), encoding="utf-8")
    return path


def _index(rows: Sequence[Breakdown]) -> dict[str, Breakdown]:
    return {row.name: row for row in rows}


def differing_cases(runs: Sequence[tuple[str, StormRun]]) -> list[dict[str, Any]]:
    """Cases (matched by id) whose outcome differs between runs, or that exist in only some runs."""
    indexed = [(label, {r.id: r for r in run.results}) for label, run in runs]
    order: list[str] = []
    seen: set[str] = set()
    for _, run in runs:
        for result in run.results:
            if result.id not in seen:
                seen.add(result.id)
                order.append(result.id)
    rows = []
    for case_id in order:
        outcomes: list[tuple[str, CaseResult | None]] = [(label, by_id.get(case_id)) for label, by_id in indexed]
        present = [r for _, r in outcomes if r is not None]
        if len(present) == len(outcomes) and len({r.passed for r in present}) == 1:
            continue
        sample = present[0]
        rows.append(
            {
                "id": case_id,
                "mutation_type": sample.mutation_type,
                "golden_id": sample.golden_id,
                "input": sample.input,
                "outcomes": outcomes,
            }
        )
    return rows


def render_comparison(runs: list[tuple[str, StormRun]]) -> str:
    """One page comparing labelled runs (e.g. "direct" vs "through Shield") side by side."""
    labels = [label for label, _ in runs]
    by_type = {label: _index(run.score_card.by_mutation_type) for label, run in runs}
    by_invariant = {label: _index(run.score_card.by_invariant) for label, run in runs}
    type_names = sorted({name for index in by_type.values() for name in index})
    invariant_names = sorted({name for index in by_invariant.values() for name in index})
    return environment().get_template("comparison.html.j2").render(
        runs=runs,
        labels=labels,
        by_type=by_type,
        by_invariant=by_invariant,
        type_names=type_names,
        invariant_names=invariant_names,
        differing=differing_cases(runs),
    )
