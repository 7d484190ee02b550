"""A Markdown summary for CI job summaries (e.g. `$GITHUB_STEP_SUMMARY`)."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from shieldstorm.storm.models import StormRun

MAX_FAILING_ROWS = 20


def md_cell(value: object, limit: int = 0) -> str:
    """Make any text safe inside a Markdown table cell: one line, no HTML, no table breaks, no code spans."""
    text = " ".join(str(value).split())
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("`", "\\`"), ("[", "\\["),
                      ("]", "\\]"), ("*", "\\*"), ("_", "\\_")):
        text = text.replace(raw, safe)
    return text


@functools.cache
def _environment() -> Environment:
    # Markdown is not HTML: escaping is done per cell by `md`, so HTML autoescape would double-escape.
    env = Environment(
        loader=PackageLoader("shieldstorm.storm.reports", "templates"),
        autoescape=False,  # noqa: S701 - every interpolated value goes through the `md` filter
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_cell
    return env


def render_markdown(run: StormRun) -> str:
    failing = [r for r in run.results if not r.passed][:MAX_FAILING_ROWS]
    return _environment().get_template("summary.md.j2").render(run=run, card=run.score_card, failing=failing)


def write_markdown(run: StormRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(run), encoding="utf-8")
    return path
