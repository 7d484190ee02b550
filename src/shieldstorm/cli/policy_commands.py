"""`shieldstorm policy ...`: build, sign, verify, test, check, activate, history, rollback, shadow, diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shieldstorm.errors import InputError

console = Console()
policy_app = typer.Typer(help="Policy bundles: build, sign, verify, test, check, activate, roll back, shadow, diff.")

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Policy database (default: SHIELDSTORM_DATABASE_URL or SQLite)")
]


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return path.read_bytes()


def _readable_bundle(path: Path) -> None:
    """Load the bundle here first: an unreadable archive, a non-UTF-8 module or a malformed manifest or data
    file is an input error (exit 2), not a failed test or a crash finding from the isolated child (exit 1)."""
    from shieldstorm.policy.bundle import load_bundle

    if not path.exists():
        raise InputError(f"{path}: no such bundle")
    bundle = load_bundle(path)
    bundle.modules(include_tests=True)
    _ = bundle.manifest, bundle.data


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@policy_app.command("build")
def build(
    directory: Annotated[Path, typer.Argument(help="Bundle directory (.manifest, *.rego, data.json)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Archive to write (.tar.gz)")],
    revision: Annotated[str | None, typer.Option(help="Set the manifest revision")] = None,
    preset: Annotated[
        list[str] | None, typer.Option("--preset", help="Layer a compliance preset (pci_dss, hipaa, gdpr, soc2)")
    ] = None,
) -> None:
    """Pack a directory into a deterministic OPA bundle archive (same input, same bytes)."""
    from shieldstorm.policy.bundle import MANIFEST, PolicyBundle, load_directory, merge_bundles
    from shieldstorm.policy.engine import PRESETS_DIR

    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    bundle = load_directory(directory)
    if preset:
        # As in PolicyEngine.default(presets=...): presets change base decisions on purpose, so the base's own
        # tests are left out and each preset's tests cover the combination.
        base_tests = [name for name in bundle.files if name.endswith("_test.rego")]
        bundle = PolicyBundle(
            files={k: v for k, v in bundle.files.items() if k not in base_tests}, source=bundle.source
        )
        if base_tests:
            console.print(f"note: left out the base tests ({', '.join(base_tests)}) with --preset", highlight=False)
        layers = [bundle]
        for name in preset:
            if not (PRESETS_DIR / name).is_dir():
                raise InputError(f"unknown preset {name!r}; see `shieldstorm policy presets`")
            layers.append(load_directory(PRESETS_DIR / name))
        bundle = merge_bundles(layers)
    if revision is not None:
        manifest = dict(bundle.manifest)
        manifest["revision"] = revision
        files = dict(bundle.files)
        files[MANIFEST] = json.dumps(manifest, sort_keys=True).encode()
        bundle = PolicyBundle(files=files, signatures=bundle.signatures, source=bundle.source)
    output.write_bytes(bundle.to_tar_gz())
    console.print(f"built {output} revision={bundle.revision or '-'} {bundle.digest}", highlight=False)


@policy_app.command("presets")
def presets() -> None:
    """List the packaged compliance presets and their purpose."""
    from shieldstorm.policy.engine import PRESETS_DIR

    for path in sorted(p for p in PRESETS_DIR.iterdir() if p.is_dir()):
        rego = path / "shield" / f"{path.name}.rego"
        purpose = rego.read_text().splitlines()[0].lstrip("# ") if rego.is_file() else ""
        console.print(f"[bold]{path.name}[/]  {purpose}", highlight=False)


@policy_app.command("keygen")
def keygen(
    output: Annotated[Path, typer.Option("-o", "--output", help="Key path prefix: writes PREFIX.key and PREFIX.pub")],
    algorithm: Annotated[str, typer.Option("--alg", help="Ed25519, ES256 or ML-DSA-65")] = "Ed25519",
) -> None:
    """Generate a bundle signing key pair."""
    from shieldstorm.policy.signing import generate_key, key_id

    private, public = generate_key(algorithm)
    private_path, public_path = output.with_name(output.name + ".key"), output.with_name(output.name + ".pub")
    _write_private(private_path, private)
    public_path.write_bytes(public)
    console.print(f"wrote {private_path} and {public_path} ({algorithm}, kid {key_id(public)})", highlight=False)


@policy_app.command("sign")
def sign(
    bundle_path: Annotated[Path, typer.Argument(help="Bundle archive or directory")],
    key: Annotated[Path, typer.Option("--key", help="PEM private key (Ed25519, ES256, ML-DSA-65)")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Signed archive (default: in place)")] = None,
    kid: Annotated[str | None, typer.Option(help="Key id for the JWS header")] = None,
) -> None:
    """Add `.signatures.json` (one JWS over the file hashes) to a bundle."""
    from shieldstorm.policy.bundle import SIGNATURES, load_bundle
    from shieldstorm.policy.signing import sign_bundle

    signed = sign_bundle(load_bundle(bundle_path), _read(key), kid=kid)
    if bundle_path.is_dir() and output is None:
        assert signed.signatures is not None
        (bundle_path / SIGNATURES).write_bytes(signed.signatures)
        target = bundle_path / SIGNATURES
    else:
        target = output or bundle_path
        target.write_bytes(signed.to_tar_gz())
    console.print(f"signed {target} revision={signed.revision or '-'} {signed.digest}", highlight=False)


@policy_app.command("verify")
def verify(
    bundle_path: Annotated[Path, typer.Argument(help="Bundle archive or directory")],
    pubkey: Annotated[Path, typer.Option("--pubkey", help="PEM public key")],
    cosign_signature: Annotated[
        Path | None, typer.Option("--cosign-signature", help="cosign sign-blob output (base64) for the archive")
    ] = None,
) -> None:
    """Verify the bundle's JWS signature, or a cosign key-based blob signature of the archive."""
    from shieldstorm.policy.bundle import load_bundle
    from shieldstorm.policy.signing import verify_bundle, verify_cosign_blob

    if cosign_signature is not None:
        verify_cosign_blob(_read(bundle_path), _read(cosign_signature), _read(pubkey))
        bundle = load_bundle(bundle_path)
        console.print(f"verified (cosign blob) revision={bundle.revision or '-'} {bundle.digest}", highlight=False)
        return
    bundle = load_bundle(bundle_path)
    signer = verify_bundle(bundle, _read(pubkey))
    console.print(
        f"verified revision={bundle.revision or '-'} {bundle.digest} signer={signer.describe()}", highlight=False
    )


@policy_app.command("test")
def test(
    bundle_path: Annotated[Path, typer.Argument(help="Bundle directory or archive with *_test.rego files")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report")] = False,
) -> None:
    """Run Rego unit tests (`test_` rules, as `opa test`): pass/fail per test and the rules each one hit."""
    from shieldstorm.policy.testing import run_tests_isolated

    _readable_bundle(bundle_path)
    report = run_tests_isolated(bundle_path)
    if as_json:
        typer.echo(json.dumps(report.model_dump(), indent=2))
    else:
        table = Table("test", "result", "file:line", "rules hit")
        for result in report.results:
            colour = {"pass": "green", "fail": "red"}.get(result.outcome, "yellow")
            table.add_row(
                f"{result.package}.{result.name}",
                f"[{colour}]{result.outcome.upper()}[/]",
                f"{result.file}:{result.line}",
                ", ".join(r.rsplit("/", 1)[-1] for r in result.rules_hit)
                + (f"  {result.message}" if result.message else ""),
            )
        console.print(table)
        if report.error:
            console.print(f"[red]error:[/] {report.error}", highlight=False)
        missed = sorted(set(report.rules) - set(report.rules_hit))
        console.print(
            f"{report.passed}/{len(report.results)} passed; rule coverage {report.coverage:.0%}"
            + (f" (not hit: {', '.join(missed)})" if missed else ""),
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


@policy_app.command("check")
def check(
    bundle_path: Annotated[Path, typer.Argument(help="Bundle directory or archive")],
    entrypoint: Annotated[str, typer.Option(help="Entry point the Shield evaluates")] = "shield/decision",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Report contradictory decisions, complete-rule conflicts, unreachable rules and rego-cpp builtin gaps."""
    from shieldstorm.policy.check import check_isolated

    _readable_bundle(bundle_path)
    findings = check_isolated(bundle_path, entrypoint=entrypoint)
    if as_json:
        typer.echo(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        for finding in findings:
            colour = {"error": "red", "warning": "yellow"}.get(finding.severity, "cyan")
            text = finding.render().replace("[", "\\[")
            console.print(f"[{colour}]{text}[/]", highlight=False, soft_wrap=True)
        errors = sum(f.severity == "error" for f in findings)
        console.print(f"{len(findings)} findings, {errors} errors", highlight=False)
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


def _manager(database_url: str | None, pubkeys: list[Path], unsigned: bool, no_tests: bool) -> Any:
    from shieldstorm.audit.log import AuditLog
    from shieldstorm.policy.activation import PolicyManager
    from shieldstorm.policy.store import PolicyStore

    store = PolicyStore.open(database_url)
    audit = AuditLog.open(database_url)
    return PolicyManager(
        None,
        store,
        public_keys=[_read(p) for p in pubkeys],
        require_signature=not unsigned,
        run_tests=not no_tests,
        audit=audit,
    )


def _close(manager: Any) -> None:
    if manager.audit is not None:
        manager.audit.close()
    if manager.store is not None:
        manager.store.close()


@policy_app.command("activate")
def activate(
    bundle_path: Annotated[Path, typer.Argument(help="Signed bundle archive or directory")],
    pubkey: Annotated[list[Path] | None, typer.Option("--pubkey", help="Trusted public key (repeatable)")] = None,
    unsigned: Annotated[bool, typer.Option("--allow-unsigned", help="Accept bundles without a signature")] = False,
    no_tests: Annotated[bool, typer.Option("--skip-tests", help="Do not run the bundle's own tests")] = False,
    cosign_signature: Annotated[
        Path | None, typer.Option("--cosign-signature", help="Accept a cosign blob signature of the archive")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Verify, test and record a bundle as the active policy (Shields following the database swap to it)."""
    from shieldstorm.policy.bundle import load_bundle

    cosign = (_read(bundle_path), _read(cosign_signature)) if cosign_signature is not None else None
    manager = _manager(database_url, pubkey or [], unsigned, no_tests)
    try:
        outcome = manager.activate(load_bundle(bundle_path), actor="cli", source=str(bundle_path), cosign=cosign)
    finally:
        _close(manager)
    if not outcome.changed:
        console.print("already active", highlight=False)
        return
    record = outcome.activation
    console.print(f"activated revision={record.revision} {record.digest} signer={record.signer}", highlight=False)


@policy_app.command("history")
def history(
    database_url: DatabaseOption = None,
    limit: Annotated[int, typer.Option(help="Rows to show")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List activated bundles: revision, digest, signer, time, action."""
    from shieldstorm.policy.store import PolicyStore

    store = PolicyStore.open(database_url)
    try:
        rows = store.history(limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    table = Table("#", "revision", "action", "digest", "signer", "activated at", "actor")
    for row in rows:
        table.add_row(
            str(row.id),
            row.revision,
            row.action,
            row.digest[:23],
            row.signer or "-",
            row.activated_at.isoformat(timespec="seconds"),
            row.actor,
        )
    console.print(table)


@policy_app.command("rollback")
def rollback(
    revision: Annotated[str | None, typer.Argument(help="Revision to return to (default: the previous one)")] = None,
    pubkey: Annotated[list[Path] | None, typer.Option("--pubkey", help="Trusted public key (repeatable)")] = None,
    unsigned: Annotated[bool, typer.Option("--allow-unsigned")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Re-activate an earlier bundle from history (the one explicit exception to anti-rollback)."""
    manager = _manager(database_url, pubkey or [], unsigned, no_tests=True)
    try:
        outcome = manager.rollback(revision, actor="cli")
    finally:
        _close(manager)
    record = outcome.activation
    console.print(f"rolled back to revision={record.revision} {record.digest}", highlight=False)


shadow_app = typer.Typer(help="Shadow mode: divergences of a candidate bundle evaluated beside the active one.")
policy_app.add_typer(shadow_app, name="shadow")


@shadow_app.command("report")
def shadow_report(
    candidate: Annotated[str | None, typer.Option(help="Only this candidate revision")] = None,
    database_url: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Summarise recorded divergences (input digest and both decisions) between active and candidate."""
    from shieldstorm.policy.shadow import summarise
    from shieldstorm.policy.store import PolicyStore

    store = PolicyStore.open(database_url)
    try:
        summary = summarise(store.divergences(candidate))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(
        f"divergences: {summary['divergences']} over {summary['distinct_inputs']} distinct inputs"
        + ("  [green]clean[/]" if summary["clean"] else ""),
        highlight=False,
    )
    table = Table("active -> candidate", "count")
    for transition, count in summary["transitions"].items():
        table.add_row(transition, str(count))
    if summary["transitions"]:
        console.print(table)
    for example in summary["examples"]:
        console.print(
            f"  {example['input_digest'][:23]}  {example['active']['decision']} {example['active']['reasons']}"
            f" -> {example['candidate']['decision']} {example['candidate']['reasons']}",
            highlight=False,
        )


@shadow_app.command("promote")
def shadow_promote(
    bundle_path: Annotated[Path, typer.Argument(help="The candidate bundle")],
    pubkey: Annotated[list[Path] | None, typer.Option("--pubkey", help="Trusted public key (repeatable)")] = None,
    unsigned: Annotated[bool, typer.Option("--allow-unsigned")] = False,
    force: Annotated[bool, typer.Option("--force", help="Promote despite recorded divergences")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Activate a shadow candidate once it is clean (no divergences recorded for its revision)."""
    from shieldstorm.policy.bundle import load_bundle

    bundle = load_bundle(bundle_path)
    manager = _manager(database_url, pubkey or [], unsigned, no_tests=False)
    try:
        divergent = len(manager.store.divergences(bundle.revision))
        if divergent and not force:
            raise InputError(
                f"candidate {bundle.revision} has {divergent} recorded divergences; review "
                "`policy shadow report` (or --force)"
            )
        outcome = manager.activate(bundle, actor="cli:shadow-promote", source=str(bundle_path))
    finally:
        _close(manager)
    console.print(f"promoted revision={bundle.revision} changed={outcome.changed}", highlight=False)


@policy_app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="Current bundle")],
    new: Annotated[Path, typer.Argument(help="Proposed bundle")],
    samples: Annotated[
        Path | None, typer.Option(help="JSON-lines file of inputs (default: the recorded traffic sample)")
    ] = None,
    database_url: DatabaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Replay recorded traffic against both bundles; report what would change and a risk score."""
    from shieldstorm.policy.engine import PolicyEngine
    from shieldstorm.policy.shadow import diff_engines
    from shieldstorm.policy.store import PolicyStore

    documents: list[dict[str, Any]]
    if samples is not None:
        documents = []
        for number, line in enumerate(_read(samples).decode().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{samples}:{number}: not JSON") from exc
            if not isinstance(value, dict):
                raise InputError(f"{samples}:{number}: each line must be a JSON object")
            documents.append(value)
    else:
        store = PolicyStore.open(database_url)
        try:
            documents = store.samples()
        finally:
            store.close()
    if not documents:
        raise InputError("no recorded traffic to replay (pass --samples FILE.jsonl)")
    report = diff_engines(PolicyEngine.from_bundle(old), PolicyEngine.from_bundle(new), documents)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    console.print(
        f"replayed {report.total} inputs: {report.changed} would change; "
        f"risk {report.risk} ({report.risk_score:.1f}/100)",
        highlight=False,
    )
    for transition, count in report.transitions.most_common():
        console.print(f"  {transition}: {count}", highlight=False)
    for example in report.examples[:5]:
        console.print(
            f"  {example['input_digest'][:23]}  {example['old']['decision']} {example['old']['reasons']}"
            f" -> {example['new']['decision']} {example['new']['reasons']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
