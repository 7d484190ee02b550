"""A complete storm run as the CLI and the pytest plugin do it: run, write reports, store history, audit."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from shieldstorm.storm.config import StormConfig
from shieldstorm.storm.models import StormRun
from shieldstorm.storm.reports.writer import write_reports
from shieldstorm.storm.runner import run_storm

logger = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed (faster HTTP client), else the default loop.

    The main task returns None and the result travels in a box: on exit, Python 3.11's asyncio.Runner
    restores the SIGINT handler and, via `signal._int_to_enum`, formats the repr of its handler, which holds
    the main task and so its result. For a big StormRun that repr alone took 0.5-0.8 s.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        return box[0]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return box[0]


@dataclass
class RunOutcome:
    run: StormRun
    reports: dict[str, Path] = field(default_factory=dict)
    json_out: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.run.score_card.gate_passed else EXIT_GATE_FAILED

    @property
    def main_report(self) -> Path | None:
        return next(iter(self.reports.values()), None)


def ci_document(run: StormRun) -> dict[str, Any]:
    """The `--json-out` document: the public CI contract, small and stable."""
    return {
        "score": run.score,
        "total": run.total,
        "passed": run.passed,
        "seed": run.seed,
        "run_id": run.run_id,
        "gate_passed": run.score_card.gate_passed,
        "gate_reasons": run.score_card.gate_reasons,
        "results": [
            {
                "id": r.id,
                "golden_id": r.golden_id,
                "mutation_type": r.mutation_type,
                "input": r.input,
                "output": r.output,
                "passed": r.passed,
                "error": r.error,
                "failures": [f.model_dump(mode="json") for f in r.failures],
            }
            for r in run.results
        ],
    }


def audit_run(run: StormRun, url: str | None) -> None:
    """Record the run in the tamper-evident audit log (summary only: no prompts or outputs)."""
    from shieldstorm.audit.events import AuditEvent
    from shieldstorm.audit.log import AuditLog

    log = AuditLog.open(url)
    try:
        log.append(
            AuditEvent(
                event_type="storm.run",
                actor="storm",
                correlation_id=run.run_id,
                data={
                    "run_id": run.run_id,
                    "name": run.name,
                    "score": round(run.score, 6),
                    "total": run.total,
                    "passed": run.passed,
                    "seed": run.seed,
                    "gate_passed": run.score_card.gate_passed,
                    "critical_failures": run.score_card.critical_failures,
                    "config_digest": run.config_digest,
                    "agent": run.agent,
                },
            )
        )
    finally:
        log.close()


def execute(
    config: StormConfig,
    *,
    seed: int | None = None,
    concurrency: int | None = None,
    min_score: float | None = None,
    output_dir: Path | None = None,
    json_out: Path | None = None,
    target_url: str | None = None,
    progress: bool = True,
    history: bool | None = None,
) -> RunOutcome:
    if min_score is not None:
        config.run.min_score = min_score
    run = run_async(run_storm(config, seed=seed, concurrency=concurrency, target_url=target_url, progress=progress))
    directory = output_dir or (config.base_dir / config.reports.output_dir)
    outcome = RunOutcome(run=run, reports=write_reports(run, directory, config.reports.formats))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(ci_document(run), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        outcome.json_out = json_out
    if config.history.enabled if history is None else history:
        from shieldstorm.storm.history import StormHistory

        with StormHistory.open(config.history.url) as store:
            store.save(run)
    if config.audit.enabled:
        audit_run(run, config.audit.url)
    return outcome
