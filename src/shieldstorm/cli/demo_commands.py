"""`shieldstorm demo`: the example agent stormed directly and through the Shield, compared in one HTML report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer


def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML report")] = Path(
        "shieldstorm-demo.html"),
    seed: Annotated[int, typer.Option(help="Storm seed (same seed, same cases)")] = 42,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Start the example agent, run Storm against it directly and through the Shield, and write the comparison."""
    from shieldstorm.shield.demo import Children, run_demo, sigterm_as_interrupt

    def say(message: str) -> None:
        typer.echo(message, err=True)

    with sigterm_as_interrupt(), Children() as children:
        try:
            report = asyncio.run(run_demo(output, children=children, seed=seed, progress=progress, say=say))
        except KeyboardInterrupt:
            say("interrupted: stopping the agent and the Shield")
            raise typer.Exit(130) from None
    typer.echo(str(report.resolve()))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
