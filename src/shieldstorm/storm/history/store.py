"""Store and query storm runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shieldstorm.errors import InputError, ServiceUnavailableError
from shieldstorm.storm.history import schema
from shieldstorm.storm.models import StormRun
from shieldstorm.storm.reports.json_report import from_json, to_json


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str
    started_at: datetime
    seed: int
    score: float
    total: int
    passed: int
    gate_passed: bool
    critical_failures: int
    agent: str


class StormHistory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None) -> StormHistory:
        """Open (and migrate) the history database; an unreachable server is a one-line error."""
        from shieldstorm.store import database

        resolved = database.normalise_url(url or database.default_database_url())
        options = {"connect_args": {"connect_timeout": 3}} if resolved.startswith("postgresql") else {}
        engine = database.create_engine(resolved, **options)
        try:
            database.migrate(engine)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise ServiceUnavailableError(f"storm history database unreachable: {exc.orig}") from None
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StormHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self, run: StormRun) -> None:
        card = run.score_card
        with self.engine.begin() as conn:
            conn.execute(
                schema.runs.insert().values(
                    run_id=run.run_id,
                    name=run.name[:256],
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    seed=run.seed,
                    score=run.score,
                    ci_low=card.ci_low,
                    ci_high=card.ci_high,
                    total=run.total,
                    passed=run.passed,
                    gate_passed=card.gate_passed,
                    critical_failures=card.critical_failures,
                    agent=run.agent[:512],
                    config_digest=run.config_digest,
                    report=to_json(run),
                )
            )
            rows = [
                {
                    "run_id": run.run_id,
                    "case_id": r.id,
                    "golden_id": r.golden_id[:256],
                    "mutation_type": r.mutation_type[:128],
                    "passed": r.passed,
                    "failed_invariants": json.dumps([f.invariant for f in r.failures]),
                }
                for r in run.results
            ]
            if rows:
                conn.execute(schema.cases.insert(), rows)

    def list(self, limit: int = 20, name: str | None = None) -> list[RunSummary]:
        query = sa.select(
            schema.runs.c.run_id,
            schema.runs.c.name,
            schema.runs.c.started_at,
            schema.runs.c.seed,
            schema.runs.c.score,
            schema.runs.c.total,
            schema.runs.c.passed,
            schema.runs.c.gate_passed,
            schema.runs.c.critical_failures,
            schema.runs.c.agent,
        ).order_by(schema.runs.c.started_at.desc(), schema.runs.c.run_id.desc())
        if name is not None:
            query = query.where(schema.runs.c.name == name)
        with self.engine.connect() as conn:
            return [RunSummary(**row._mapping) for row in conn.execute(query.limit(limit))]

    def resolve(self, ref: str) -> str:
        """A run id, a unique id prefix, `latest`, or `latest~N` (N runs before the latest)."""
        if ref == "latest" or ref.startswith("latest~"):
            offset = 0
            if ref != "latest":
                try:
                    offset = int(ref.removeprefix("latest~"))
                except ValueError:
                    raise InputError(f"bad run reference {ref!r}; use latest~N") from None
            query = (
                sa.select(schema.runs.c.run_id)
                .order_by(schema.runs.c.started_at.desc(), schema.runs.c.run_id.desc())
                .offset(offset)
                .limit(1)
            )
            with self.engine.connect() as conn:
                found = conn.execute(query).scalar()
            if found is None:
                raise InputError(f"no run {ref!r} in the history")
            return str(found)
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id.like(f"{escaped}%", escape="\\")).limit(2)
        with self.engine.connect() as conn:
            matches = list(conn.execute(query).scalars())
        if not matches:
            raise InputError(f"no run {ref!r} in the history (see `shieldstorm storm history`)")
        if len(matches) > 1:
            raise InputError(f"run reference {ref!r} is ambiguous; give more characters")
        return str(matches[0])

    def load(self, ref: str) -> StormRun:
        run_id = self.resolve(ref)
        with self.engine.connect() as conn:
            report = conn.execute(sa.select(schema.runs.c.report).where(schema.runs.c.run_id == run_id)).scalar_one()
        return from_json(report, f"history run {run_id}")
