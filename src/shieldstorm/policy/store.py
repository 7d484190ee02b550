"""Persistence for the policy lifecycle (SQLite or PostgreSQL, migration branch `0400_policy`).

- `policy_activations`: every activated bundle (revision, digest, signer, time, action) with its archive,
  so `policy rollback` can restore any of them byte for byte;
- `policy_divergences`: shadow-mode disagreements between the active bundle and a candidate;
- `policy_samples`: a sample of recorded inputs that `policy diff` replays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shieldstorm.errors import ServiceUnavailableError

metadata = sa.MetaData()

activations = sa.Table(
    "policy_activations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision", sa.String(256), nullable=False),
    sa.Column("digest", sa.String(80), nullable=False),
    sa.Column("signer", sa.String(256), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("source", sa.String(1024), nullable=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("bundle", sa.LargeBinary, nullable=False),
)

divergences = sa.Table(
    "policy_divergences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("input_digest", sa.String(80), nullable=False),
    sa.Column("active_revision", sa.String(256), nullable=False),
    sa.Column("candidate_revision", sa.String(256), nullable=False),
    sa.Column("active", sa.Text, nullable=False),
    sa.Column("candidate", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

samples = sa.Table(
    "policy_samples",
    metadata,
    sa.Column("input_digest", sa.String(80), primary_key=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Activation:
    id: int
    revision: str
    digest: str
    signer: str | None
    action: str
    source: str | None
    actor: str
    activated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "revision": self.revision,
            "digest": self.digest,
            "signer": self.signer,
            "action": self.action,
            "source": self.source,
            "actor": self.actor,
            "activated_at": self.activated_at.isoformat(),
        }


def _row(row: Any) -> Activation:
    at = row.activated_at if row.activated_at.tzinfo else row.activated_at.replace(tzinfo=UTC)
    return Activation(row.id, row.revision, row.digest, row.signer, row.action, row.source, row.actor, at)


_COLUMNS = [c for c in activations.c if c.name != "bundle"]


class PolicyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True) -> PolicyStore:
        from shieldstorm.store import database

        engine = database.create_engine(url)
        if migrate:
            try:
                database.migrate(engine)
            except sa.exc.OperationalError as exc:
                engine.dispose()
                raise ServiceUnavailableError(f"policy database unreachable: {exc.orig}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # ---- activations ----------------------------------------------------------------------------------

    def record_activation(
        self,
        *,
        revision: str,
        digest: str,
        signer: str | None,
        action: str,
        source: str | None,
        actor: str,
        bundle: bytes,
    ) -> Activation:
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "revision": revision,
            "digest": digest,
            "signer": signer,
            "action": action,
            "source": source,
            "actor": actor,
            "activated_at": now,
            "bundle": bundle,
        }
        with self.engine.begin() as conn:
            result = conn.execute(activations.insert().values(**values))
            key = result.inserted_primary_key
            new_id = int(key[0]) if key is not None else 0
        return Activation(new_id, revision, digest, signer, action, source, actor, now)

    def history(self, limit: int = 50) -> list[Activation]:
        query = sa.select(*_COLUMNS).order_by(activations.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def current(self) -> Activation | None:
        found = self.history(limit=1)
        return found[0] if found else None

    def bundle_bytes(self, activation_id: int) -> bytes:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(activations.c.bundle).where(activations.c.id == activation_id)).scalar()
        if value is None:
            raise KeyError(activation_id)
        return bytes(value)

    def find_revision(self, revision: str) -> Activation | None:
        query = (
            sa.select(*_COLUMNS).where(activations.c.revision == revision).order_by(activations.c.id.desc()).limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row(row) if row else None

    def previous(self) -> Activation | None:
        """The most recent activation whose content differs from the current one (the default rollback target)."""
        current = self.current()
        if current is None:
            return None
        query = (
            sa.select(*_COLUMNS)
            .where(activations.c.digest != current.digest)
            .order_by(activations.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _row(row) if row else None

    # ---- shadow divergences and traffic samples -------------------------------------------------------

    def record_divergence(self, divergence: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                divergences.insert().values(
                    input_digest=divergence.input_digest,
                    active_revision=divergence.active_revision,
                    candidate_revision=divergence.candidate_revision,
                    active=json.dumps(divergence.active, sort_keys=True),
                    candidate=json.dumps(divergence.candidate, sort_keys=True),
                    recorded_at=datetime.now(UTC),
                )
            )

    def divergences(self, candidate_revision: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        query = sa.select(divergences).order_by(divergences.c.id).limit(limit)
        if candidate_revision is not None:
            query = query.where(divergences.c.candidate_revision == candidate_revision)
        with self.engine.connect() as conn:
            return [
                {
                    "input_digest": r.input_digest,
                    "active_revision": r.active_revision,
                    "candidate_revision": r.candidate_revision,
                    "active": json.loads(r.active),
                    "candidate": json.loads(r.candidate),
                }
                for r in conn.execute(query)
            ]

    def record_sample(self, digest: str, document: dict[str, Any]) -> None:
        encoded = json.dumps(document, sort_keys=True, default=str)
        try:
            with self.engine.begin() as conn:
                conn.execute(samples.insert().values(input_digest=digest, input=encoded, recorded_at=datetime.now(UTC)))
        except sa.exc.IntegrityError:
            pass  # the same input is already in the sample

    def samples(self, limit: int = 10_000) -> list[dict[str, Any]]:
        query = sa.select(samples.c.input).order_by(samples.c.recorded_at).limit(limit)
        with self.engine.connect() as conn:
            return [json.loads(r.input) for r in conn.execute(query)]
