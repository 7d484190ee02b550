"""`shieldstorm shield ...`: run the gateway and validate its configuration."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

shield_app = typer.Typer(help="Shield: the guard gateway in front of agents, APIs and LLM providers.",
                         no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="shield.yaml", exists=False)]


@shield_app.command("serve")
def serve_command(
    upstream: Annotated[str | None, typer.Option("--upstream", "-u", help="Upstream URL (agent, API or LLM)")] = None,
    config: ConfigOption = None,
    mode: Annotated[str | None, typer.Option(help="proxy | openai | authz")] = None,
    host: Annotated[str | None, typer.Option(help="Listen address")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Run the Shield in front of UPSTREAM until Ctrl-C."""
    from shieldstorm.shield.config import load_config
    from shieldstorm.shield.server import run

    settings = load_config(config, upstream_url=upstream, mode=mode, host=host, port=port)
    where = f"{'https' if settings.server.tls else 'http'}://{settings.server.host}:{settings.server.port}"
    typer.echo(f"shield: {settings.mode} mode on {where} → {settings.upstream.url or '(authorizer)'}", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        run(settings, log_level=log_level)


@shield_app.command("check")
def check_command(
    config: ConfigOption = None,
    upstream: Annotated[str | None, typer.Option("--upstream", "-u")] = None,
) -> None:
    """Validate a shield.yaml (and build its detector and policy) without serving."""
    from shieldstorm.shield.config import load_config
    from shieldstorm.shield.engines import DetectionEngine, PolicyGate

    settings = load_config(config, upstream_url=upstream)
    DetectionEngine(settings.detection)
    gate = PolicyGate(settings.policy, settings.risk)
    status = gate.status()
    typer.echo(f"ok: mode={settings.mode} upstream={settings.upstream.url or '-'} policy={status['kind']}"
               f" rate_limit={settings.rate_limit.backend if settings.rate_limit.enabled else 'off'}")


@shield_app.command("train-anomaly")
def train_anomaly_command(
    features: Annotated[Path, typer.Argument(help="JSON lines file: one [rate, size_z, novelty, log_size] per line")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Exported forest JSON")] = Path("iforest.json"),
    trees: Annotated[int, typer.Option(help="Number of trees")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
) -> None:
    """Train the optional IsolationForest on normal traffic and export it for `signals.isolation_forest`."""
    import json

    from shieldstorm.errors import InputError
    from shieldstorm.shield.anomaly import train

    try:
        rows = [json.loads(line) for line in features.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise InputError(f"{features}: {exc}") from exc
    if len(rows) < 10 or not all(isinstance(r, list) and len(r) == 4 for r in rows):
        raise InputError(f"{features}: need at least 10 rows of 4 numbers")
    train(rows, trees=trees, seed=seed).save(output)
    typer.echo(str(output))


def register(app: typer.Typer) -> None:
    app.add_typer(shield_app, name="shield")
