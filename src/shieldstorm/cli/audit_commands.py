"""`shieldstorm audit verify | proof | consistency | checkpoint | tail | export`.

The log lives in the database (`--database-url` / SHIELDSTORM_DATABASE_URL, default SQLite under the data dir).
The Ed25519 signing key is `<data dir>/audit-signing.key` (created with mode 0600 on first use, its public verifier
key beside it as `audit-signing.vkey`); `--signing-key` picks another file. `verify` needs only the public key:
`--vkey FILE`, else the data dir's `.vkey`, else the signing key.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from shieldstorm.errors import ConfigError, InputError, ServiceUnavailableError

if TYPE_CHECKING:
    from shieldstorm.audit.checkpoint import NoteVerifier
    from shieldstorm.audit.log import AuditLog

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SHIELDSTORM_DATABASE_URL",
        help="SQLite or PostgreSQL URL (default: SQLite under the data dir).",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="SHIELDSTORM_DATA_DIR", help="Where the signing key lives (default .shieldstorm)."
    ),
]
SigningKey = Annotated[
    Path | None, typer.Option("--signing-key", help="Ed25519 signing key file (default <data dir>/audit-signing.key).")
]

audit_app = typer.Typer(
    help="Tamper-evident audit log: verify, prove, checkpoint, tail, export.", no_args_is_help=True
)


def _data_dir(data_dir: Path | None) -> Path:
    from shieldstorm.store import database

    return data_dir or database.data_dir()


def is_unavailable(exc: BaseException) -> bool:
    from shieldstorm.audit.log import is_unavailable as unavailable

    return unavailable(exc)


@contextmanager
def _log(url: str | None, data_dir: Path | None, signing_key: Path | None) -> Iterator[AuditLog]:
    from shieldstorm.audit.log import AuditLog

    log = AuditLog.open(
        url,
        data_dir=_data_dir(data_dir),
        signing_key=signing_key,
        spool=False,
        checkpoint_interval=None,
        checkpoint_every=0,
    )
    try:
        yield log
    except Exception as exc:
        if is_unavailable(exc):
            raise ServiceUnavailableError(f"audit database unreachable: {exc}") from exc
        raise
    finally:
        log.close()


def _verifier(vkey: Path | None, data_dir: Path | None, signing_key: Path | None) -> NoteVerifier:
    from shieldstorm.audit.checkpoint import NoteSigner, NoteVerifier

    base = _data_dir(data_dir)
    if vkey is not None:
        try:
            return NoteVerifier.from_vkey(vkey.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read verifier key {vkey}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise ConfigError(f"verifier key {vkey} is not valid UTF-8") from None
    if signing_key is not None:
        return NoteSigner.load(signing_key).verifier
    default_vkey = base / "audit-signing.vkey"
    if default_vkey.exists():
        return NoteVerifier.from_vkey(default_vkey.read_text(encoding="utf-8"))
    default_key = base / "audit-signing.key"
    if default_key.exists():
        return NoteSigner.load(default_key).verifier
    raise ConfigError(f"no audit verifier key: pass --vkey, or keep audit-signing.vkey in {base}")


@audit_app.command()
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A signed checkpoint note saved earlier (repeatable)."),
    ] = None,
    vkey: Annotated[Path | None, typer.Option("--vkey", help="Verifier (public) key file.")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the whole tree and check every entry, node, the head and all checkpoints. Exit 1 on tampering."""
    from shieldstorm.audit.verify import verify_log
    from shieldstorm.store import database

    verifier = _verifier(vkey, data_dir, signing_key)
    notes: list[str] = []
    for path in checkpoint or []:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read checkpoint {path}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise InputError(f"checkpoint {path} is not valid UTF-8") from None
    engine = database.create_engine(url=database.normalise_url(database_url or database.default_database_url()))
    try:
        database.migrate(engine)
        report = verify_log(engine, verifier, extra_checkpoints=notes)
    except Exception as exc:
        if is_unavailable(exc):
            raise ServiceUnavailableError(f"audit database unreachable: {exc}") from exc
        raise
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_json_dict()))
    elif report.ok:
        typer.echo(
            f"OK: {report.entries_checked} entries verified, root {report.root.hex()}, "
            f"{report.checkpoints_verified} signed checkpoint(s) consistent"
        )
    else:
        where = "" if report.first_bad_index is None else f": first bad index {report.first_bad_index}"
        typer.echo(f"TAMPERED{where}")
        for problem in report.problems:
            prefix = "" if problem.index is None else f"[{problem.index}] "
            typer.echo(f"  {prefix}{problem.message}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command()
def proof(
    index: Annotated[int, typer.Argument(help="Leaf index.")],
    size: Annotated[int | None, typer.Option(help="Tree size (default: current).")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
) -> None:
    """Print an RFC 9162 inclusion proof for entry INDEX as JSON (checked locally before printing)."""
    from shieldstorm.audit.merkle import ProofError, verify_inclusion

    with _log(database_url, data_dir, signing_key) as log:
        try:
            result = log.inclusion_proof(index, size)
        except ProofError as exc:
            raise InputError(str(exc)) from exc
    payload = result.to_json_dict()
    payload["verified"] = verify_inclusion(result.index, result.size, result.leaf_hash, result.path, result.root)
    typer.echo(json.dumps(payload))


@audit_app.command()
def consistency(
    old: Annotated[int, typer.Argument(help="Older tree size.")],
    new: Annotated[int | None, typer.Argument(help="Newer tree size (default: current).")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
) -> None:
    """Print an RFC 9162 consistency proof between tree sizes OLD and NEW as JSON."""
    from shieldstorm.audit.merkle import ProofError, verify_consistency

    with _log(database_url, data_dir, signing_key) as log:
        try:
            result = log.consistency_proof(old, new)
        except ProofError as exc:
            raise InputError(str(exc)) from exc
    payload = result.to_json_dict()
    payload["verified"] = verify_consistency(
        result.old_size, result.new_size, result.old_root, result.new_root, result.path
    )
    typer.echo(json.dumps(payload))


@audit_app.command("checkpoint")
def make_checkpoint(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the note to this file.")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
) -> None:
    """Sign a checkpoint of the current tree (C2SP signed note), store it and print it."""
    with _log(database_url, data_dir, signing_key) as log:
        signed = log.checkpoint()
    # The checkpoint is already stored: print it before a bad --output path can stop the command.
    sys.stdout.write(signed.note)
    if output is not None:
        try:
            output.write_text(signed.note, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror}") from exc


@audit_app.command()
def tail(
    count: Annotated[int, typer.Option("-n", "--lines", min=1, max=100_000, help="How many entries.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
) -> None:
    """Show the newest entries."""
    from shieldstorm.audit.sinks.formatters import format_jsonl

    with _log(database_url, data_dir, signing_key) as log:
        entries = log.tail(count)
    if as_json:
        for entry in entries:
            typer.echo(format_jsonl(entry.event, entry.index))
        return
    table = Table("index", "time (UTC)", "type", "tenant", "actor", "event id")
    for entry in entries:
        event = entry.event
        table.add_row(
            str(entry.index),
            event.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f"),
            event.event_type,
            event.tenant or "",
            event.actor,
            event.event_id,
        )
    Console(width=160).print(table)


@audit_app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl, cef or syslog (RFC 5424).")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")] = None,
    start: Annotated[int, typer.Option(min=0, help="First index.")] = 0,
    stop: Annotated[int | None, typer.Option(min=0, help="Stop before this index.")] = None,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    signing_key: SigningKey = None,
) -> None:
    """Stream entries as JSON lines, CEF or syslog lines, one per entry, in index order."""
    from shieldstorm.audit.sinks.formatters import formatter

    render = formatter(fmt)
    try:
        # Opened outside _log, so a bad path is not reported as an unreachable database.
        handle = output.open("w", encoding="utf-8") if output is not None else sys.stdout
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}") from exc
    with _log(database_url, data_dir, signing_key) as log:
        try:
            for entry in log.entries(start, stop):
                handle.write(render(entry.event, entry.index) + "\n")
        finally:
            if output is not None:
                handle.close()


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
