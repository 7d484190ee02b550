"""`shieldstorm storm …`: init, run, report, history, compare, mutate, import-flakestorm."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shieldstorm.errors import ConfigError, InputError

storm_app = typer.Typer(
    name="storm",
    help="Chaos and red-team testing of AI agents: mutate golden prompts, check invariants, score, gate CI.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("-c", "--config", help="storm.yaml to use")]


def register(app: typer.Typer) -> None:
    app.add_typer(storm_app, name="storm")


@storm_app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config")] = Path("storm.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a commented example storm.yaml that tests the bundled example agent and runs as-is."""
    if path.exists() and not force:
        raise InputError(f"{path} already exists (use --force to overwrite)")
    text = resources.files("shieldstorm.storm").joinpath("data/storm.init.yaml").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(path))}; run it with: shieldstorm storm run -c {escape(str(path))}")


@storm_app.command()
def run(
    config: ConfigOption = Path("storm.yaml"),
    seed: Annotated[int | None, typer.Option(help="Seed for the mutations (default: run.seed)")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=4096, help="Concurrent agent calls")] = None,
    min_score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Gate: exit 1 below this score")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Report directory (default: reports.output_dir)")] = None,
    json_out: Annotated[Path | None, typer.Option(help="Write score,total,passed,seed,results as JSON here")] = None,
    target_url: Annotated[str | None, typer.Option(help="Send to this URL instead (http/openai agents)")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    history: Annotated[bool | None, typer.Option(help="Store the run (default: history.enabled)")] = None,
) -> None:
    """Run a storm: exit 0 when the gate passes, 1 when the score or a critical invariant fails it, 2 on errors."""
    from shieldstorm.storm.config import load_config
    from shieldstorm.storm.pipeline import execute

    loaded = load_config(config)
    outcome = execute(
        loaded,
        seed=seed,
        concurrency=concurrency,
        min_score=min_score,
        output_dir=output_dir,
        json_out=json_out,
        target_url=target_url,
        progress=progress,
        history=history,
    )
    result = outcome.run
    card = result.score_card
    style = "green" if card.gate_passed else "red"
    console.print(
        f"[bold {style}]score {result.score:.1%}[/] (95% CI {card.ci_low:.1%}–{card.ci_high:.1%}) · "
        f"{result.passed}/{result.total} passed · {card.critical_failures} critical · {card.agent_errors} agent errors "
        f"· seed {result.seed} · run {result.run_id} · {result.duration_s:.2f} s",
        highlight=False,
    )
    for reason in card.gate_reasons:
        console.print(f"[red]gate failed:[/] {escape(reason)}", highlight=False)
    for fmt, path in outcome.reports.items():
        console.print(f"{fmt:9} {escape(str(path))}", highlight=False)
    raise typer.Exit(outcome.exit_code)


def _load_run_ref(ref: str, db: str | None) -> object:
    """A JSON report path, or a run reference in the history (id, prefix, latest, latest~N)."""
    from shieldstorm.storm.reports.json_report import read_json

    path = Path(ref)
    if path.suffix == ".json" or path.exists():
        return read_json(path)
    from shieldstorm.storm.history import StormHistory

    with StormHistory.open(db) as store:
        return store.load(ref)


@storm_app.command()
def report(
    source: Annotated[str, typer.Argument(help="A storm JSON report, or a run id / latest from the history")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="html | json | junit | csv | markdown")] = "html",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")] = None,
    db: Annotated[str | None, typer.Option(help="History database URL")] = None,
) -> None:
    """Re-render a stored run (JSON report or history) in any report format."""
    from shieldstorm.storm.models import StormRun
    from shieldstorm.storm.reports.csv_report import render_csv
    from shieldstorm.storm.reports.html import render_html
    from shieldstorm.storm.reports.json_report import to_json
    from shieldstorm.storm.reports.junit import render_junit
    from shieldstorm.storm.reports.markdown import render_markdown

    renderers = {"html": render_html, "json": to_json, "junit": render_junit, "csv": render_csv}
    renderers["markdown"] = render_markdown
    if fmt not in renderers:
        raise InputError(f"--format must be one of {', '.join(renderers)}, not {fmt!r}")
    loaded = _load_run_ref(source, db)
    assert isinstance(loaded, StormRun)
    text = renderers[fmt](loaded)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {escape(str(output))}", highlight=False)


@storm_app.command("history")
def history_command(
    limit: Annotated[int, typer.Option(min=1, help="How many runs")] = 20,
    name: Annotated[str | None, typer.Option(help="Only runs with this name")] = None,
    db: Annotated[str | None, typer.Option(help="History database URL (default: SQLite under .shieldstorm/)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List stored storm runs, newest first."""
    from shieldstorm.storm.history import StormHistory

    with StormHistory.open(db) as store:
        runs = store.list(limit=limit, name=name)
    if as_json:
        rows = [{**vars(r), "started_at": r.started_at.isoformat()} for r in runs]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("run", "started (UTC)", "name", "score", "passed", "gate", "seed", "agent")
    for r in runs:
        gate = "[green]pass[/]" if r.gate_passed else f"[red]fail[/] ({r.critical_failures} critical)"
        table.add_row(
            r.run_id,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.name),
            f"{r.score:.1%}",
            f"{r.passed}/{r.total}",
            gate,
            str(r.seed),
            escape(r.agent),
        )
    console.print(table if runs else "no storm runs stored yet")


def _fmt_delta(before: float | None, after: float | None) -> str:
    if before is None:
        return f"new {after:.1%}" if after is not None else "–"
    if after is None:
        return f"gone (was {before:.1%})"
    change = after - before
    colour = "green" if change > 0 else "red" if change < 0 else "white"
    return f"{before:.1%} → {after:.1%} [{colour}]({change:+.1%})[/]"


@storm_app.command()
def compare(
    before: Annotated[str, typer.Argument(help="Run id / prefix / latest~1, or a JSON report")],
    after: Annotated[str, typer.Argument(help="Run id / prefix / latest, or a JSON report")],
    db: Annotated[str | None, typer.Option(help="History database URL")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write a side-by-side HTML comparison here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON")] = False,
) -> None:
    """Score deltas (overall, per mutation type, per invariant) and newly failing / fixed cases."""
    from shieldstorm.storm.history import compare_runs
    from shieldstorm.storm.models import StormRun

    a, b = _load_run_ref(before, db), _load_run_ref(after, db)
    assert isinstance(a, StormRun) and isinstance(b, StormRun)
    result = compare_runs(a, b)
    if html is not None:
        from shieldstorm.storm.reports.html import render_comparison

        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_comparison([(f"A {a.run_id}", a), (f"B {b.run_id}", b)]), encoding="utf-8")
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    console.print(f"[bold]score[/] {_fmt_delta(result.score.before, result.score.after)}  ({a.run_id} → {b.run_id})")
    if not result.same_seed:
        console.print("[yellow]note:[/] different seeds: cases are matched by id, so most will not match")
    table = Table("mutation type", "change")
    for delta in result.by_mutation_type:
        table.add_row(escape(delta.name), _fmt_delta(delta.before, delta.after))
    console.print(table)
    table = Table("invariant", "change")
    for delta in result.by_invariant:
        table.add_row(escape(delta.name), _fmt_delta(delta.before, delta.after))
    console.print(table)
    console.print(f"[red]newly failing: {len(result.newly_failing)}[/]")
    for case in result.newly_failing:
        reason = escape(case.failures[0] if case.failures else "")
        console.print(f"  {case.id} {escape(case.mutation_type)} [{escape(case.golden_id)}]: {reason}", highlight=False)
    console.print(f"[green]fixed: {len(result.fixed)}[/]")
    for case in result.fixed:
        console.print(f"  {case.id} {escape(case.mutation_type)} [{escape(case.golden_id)}]", highlight=False)


@storm_app.command()
def mutate(
    prompt: Annotated[str, typer.Argument(help="The prompt to mutate")],
    types: Annotated[list[str] | None, typer.Option("--type", "-t", help="Mutation type (repeatable)")] = None,
    seed: Annotated[int, typer.Option(help="Seed")] = 42,
    pack: Annotated[str | None, typer.Option(help="Mutation pack")] = None,
    variants: Annotated[int, typer.Option(min=1, max=100, help="Variants per type")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Print the mutations of one prompt (deterministic for a seed)."""
    from shieldstorm.storm.config import parse_config
    from shieldstorm.storm.generation import build_mutations

    config = parse_config(
        {
            "agent": {"type": "python", "callable": "unused:unused"},
            "golden": [{"id": "prompt", "prompt": prompt}],
            "mutations": {"types": types, "pack": pack, "variants": variants},
        },
        source="--type/--pack",
    )
    for mutation in build_mutations(config, seed):
        if as_json:
            typer.echo(json.dumps(mutation.model_dump(mode="json"), ensure_ascii=False))
            continue
        console.rule(f"{mutation.mutation_type} #{mutation.variant} (weight {mutation.weight:g})", style="dim")
        for message in mutation.messages:
            console.print(f"[bold]{message.role}:[/] {escape(message.content)}", highlight=False)


@storm_app.command("import-flakestorm")
def import_flakestorm(
    source: Annotated[Path, typer.Argument(help="A Flakestorm 2.x flakestorm.yaml")],
    output: Annotated[Path, typer.Option("-o", "--output", help="storm.yaml to write")] = Path("storm.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Convert a Flakestorm config to storm.yaml (notes list what could not be carried over)."""
    from shieldstorm.storm.flakestorm import convert_file

    if output.exists() and not force:
        raise InputError(f"{output} already exists (use --force to overwrite)")
    text, notes = convert_file(source)
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(output))}", highlight=False)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if not text:
        raise ConfigError(f"{source}: nothing to convert")
