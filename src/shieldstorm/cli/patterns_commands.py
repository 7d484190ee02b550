"""`shieldstorm patterns`: list the pattern database, show one pattern, self-test every example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shieldstorm.errors import InputError

patterns_app = typer.Typer(help="Inspect and self-test the detection pattern database.", no_args_is_help=True)

PatternsOpt = Annotated[
    list[Path] | None,
    typer.Option("--patterns", "-p", help="Extra pattern directory (repeatable)."),
]
NoBuiltins = Annotated[bool, typer.Option("--no-builtins", help="Only use --patterns directories.")]


@patterns_app.command("list")
def list_patterns(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    kind: Annotated[str | None, typer.Option(help="Only this kind: injection, pii or secret.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    patterns: PatternsOpt = None,
    no_builtins: NoBuiltins = False,
) -> None:
    """List every loaded pattern."""
    from shieldstorm.detect.cli_support import build_detector

    detector = build_detector(patterns, builtins=not no_builtins)
    rows = [
        p
        for p in detector.patterns.values()
        if (kind is None or p.kind.value == kind) and (category is None or p.category == category)
    ]
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") | {"origin": detector.origins[p.id]} for p in rows]))
        return
    table = Table(title=f"{len(rows)} patterns ({detector.engine})")
    for col in ("id", "kind", "category", "severity", "entity", "validator", "description"):
        table.add_column(col)
    for p in rows:
        table.add_row(
            p.id, p.kind.value, p.category, p.severity.value, p.entity or "", p.validator or "", Text(p.description)
        )
    Console().print(table)


@patterns_app.command("show")
def show_pattern(
    pattern_id: Annotated[str, typer.Argument(help="Pattern id, e.g. PI-OVR-001.")],
    patterns: PatternsOpt = None,
    no_builtins: NoBuiltins = False,
) -> None:
    """Show one pattern (expressions, examples, origin) as JSON."""
    from shieldstorm.detect.cli_support import build_detector

    detector = build_detector(patterns, builtins=not no_builtins)
    pattern = detector.patterns.get(pattern_id)
    if pattern is None:
        raise InputError(f"no pattern with id {pattern_id!r} (see `shieldstorm patterns list`)")
    data = pattern.model_dump(mode="json") | {"origin": detector.origins[pattern_id]}
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@patterns_app.command("test")
def test_patterns(
    patterns: PatternsOpt = None,
    no_builtins: NoBuiltins = False,
    engine: Annotated[str, typer.Option(help="Matcher: auto, hyperscan or re2.")] = "auto",
) -> None:
    """Self-test: every example must be found, no counter-example may be. Exit 1 on any failure."""
    from shieldstorm.detect.cli_support import build_detector, shorten

    if engine not in ("auto", "hyperscan", "re2"):
        raise InputError(f"unknown engine {engine!r}; use auto, hyperscan or re2")
    detector = build_detector(patterns, builtins=not no_builtins, engine=engine)
    failures = detector.self_test()
    console = Console()
    cases = sum(len(p.examples) + len(p.counter_examples) for p in detector.patterns.values())
    for f in failures:
        what = "example not found" if f.case == "example" else "counter-example matched"
        console.print(
            Text(f"FAIL {f.pattern_id}: {what}: {shorten(f.text, 80)!r} (found: {', '.join(f.found) or '-'})")
        )
    status = "ok" if not failures else f"{len(failures)} failed"
    console.print(Text(f"{len(detector.patterns)} patterns, {cases} cases, engine {detector.engine}: {status}"))
    raise typer.Exit(1 if failures else 0)


@patterns_app.command("compile")
def compile_patterns(patterns: PatternsOpt = None, no_builtins: NoBuiltins = False) -> None:
    """Compile the Hyperscan database now and store it in the cache (e.g. while building an image)."""
    import time

    from shieldstorm.detect.config import DetectorConfig
    from shieldstorm.detect.detector import Detector
    from shieldstorm.detect.matcher import HyperscanMatcher, default_cache_dir, hyperscan_available

    if not hyperscan_available():
        raise InputError("the hyperscan package is not installed; the RE2 engine needs no compile step")
    t0 = time.perf_counter()
    detector = Detector.from_paths(patterns or [], DetectorConfig(engine="hyperscan"), builtins=not no_builtins)
    matcher = detector._snapshot.matcher
    assert isinstance(matcher, HyperscanMatcher)
    how = "loaded from cache" if matcher.from_cache else f"compiled in {matcher.compile_seconds:.1f} s"
    typer.echo(
        f"{len(detector.patterns)} patterns: Hyperscan database {how} "
        f"({matcher.database_bytes() / 1024:.0f} KiB, {time.perf_counter() - t0:.1f} s total),"
        f" cache {default_cache_dir()}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(patterns_app, name="patterns")
