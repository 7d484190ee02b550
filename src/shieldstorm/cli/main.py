"""The `shieldstorm` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console
from rich.markup import escape

from shieldstorm.errors import ShieldStormError

app = typer.Typer(
    name="shieldstorm",
    help="ShieldStorm: chaos-test AI agents (storm) and guard them in production (shield).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every `shieldstorm.cli.<group>_commands` module exposes `register(app: typer.Typer) -> None`.
# Discovery (not a hand-kept list) lets each command group land without touching this file.
COMMAND_SUFFIX = "_commands"

err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """ShieldStorm: chaos-test AI agents (storm) and guard them in production (shield)."""


@app.command()
def version() -> None:
    """Print the ShieldStorm version."""
    from shieldstorm import __version__

    typer.echo(__version__)


def command_modules() -> list[str]:
    """Names of the command-group modules, sorted so `--help` is stable."""
    import shieldstorm.cli as cli_package

    return sorted(
        f"{cli_package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(cli_package.__path__)
        if info.name.endswith(COMMAND_SUFFIX)
    )


_registered = False


def _register_all() -> None:
    global _registered
    if _registered:
        return
    for module_name in command_modules():
        importlib.import_module(module_name).register(app)
    _registered = True


def main() -> None:
    """Console-script entry point: every expected error becomes one line and exit code 2."""
    try:
        # Loading the command modules takes a few hundred milliseconds: a Ctrl-C then is one line and exit
        # 130 (as it is inside a command), not a traceback from whichever import it interrupted.
        _register_all()
    except KeyboardInterrupt:
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    try:
        # Standalone mode: Typer prints usage errors itself (exit 2) and handles Ctrl-C (exit 1).
        app()
    except ShieldStormError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
