"""`shieldstorm credits topup | balance | history`: the credits ledger from the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from shieldstorm.credits import CreditsLedger

T = TypeVar("T")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SHIELDSTORM_DATABASE_URL",
        help="SQLite or PostgreSQL URL (default: SQLite under the data dir, SHIELDSTORM_DATA_DIR).",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

credits_app = typer.Typer(help="Credits ledger: top up, inspect balances and history.", no_args_is_help=True)


def _with_ledger(url: str | None, action: Callable[[CreditsLedger], Awaitable[T]]) -> T:
    async def run() -> T:
        ledger = CreditsLedger.open(url, max_workers=1)
        try:
            return await action(ledger)
        finally:
            ledger.close()

    return asyncio.run(run())


@credits_app.command()
def topup(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    amount: Annotated[int, typer.Argument(help="Whole credits to add.")],
    reason: Annotated[str, typer.Option(help="Recorded in the history.")] = "topup (cli)",
    idempotency_key: Annotated[str | None, typer.Option(help="Makes a retried top-up credit once.")] = None,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Add credits to a tenant's account (created on first top-up)."""
    movement = _with_ledger(
        database_url, lambda ledger: ledger.topup(tenant, amount, idempotency_key=idempotency_key, reason=reason)
    )
    if as_json:
        typer.echo(json.dumps(movement.to_json_dict()))
    else:
        typer.echo(f"{tenant}: +{amount} credits, balance {movement.balance_after}")


@credits_app.command()
def balance(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a tenant's available and reserved credits."""
    result = _with_ledger(database_url, lambda ledger: ledger.balance(tenant))
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        typer.echo(f"{tenant}: {result.available} available, {result.reserved} reserved")


@credits_app.command()
def history(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    cursor: Annotated[str | None, typer.Option(help="The next_cursor printed by the previous page.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Movements per page (newest first).")] = 50,
    database_url: DatabaseUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """List a tenant's movements, newest first, one page at a time."""
    page = _with_ledger(database_url, lambda ledger: ledger.history(tenant, limit=limit, cursor=cursor))
    if as_json:
        payload = {"items": [item.to_json_dict() for item in page.items], "next_cursor": page.next_cursor}
        typer.echo(json.dumps(payload))
        return
    table = Table("id", "time (UTC)", "kind", "amount", "balance", "reservation", "reason")
    for item in page.items:
        table.add_row(
            str(item.id),
            item.created.strftime("%Y-%m-%d %H:%M:%S"),
            item.kind,
            f"{item.amount:+d}",
            str(item.balance_after),
            item.reservation_id or "",
            item.reason,
        )
    console = Console(width=160)
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(credits_app, name="credits")
