"""SQL tables of the storm run history (SQLAlchemy Core). Migration 0300_storm creates them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

runs = sa.Table(
    "storm_runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("ci_low", sa.Float, nullable=False),
    sa.Column("ci_high", sa.Float, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("passed", sa.Integer, nullable=False),
    sa.Column("gate_passed", sa.Boolean, nullable=False),
    sa.Column("critical_failures", sa.Integer, nullable=False),
    sa.Column("agent", sa.String(512), nullable=False),
    sa.Column("config_digest", sa.String(64), nullable=False),
    sa.Column("report", sa.Text, nullable=False),
)

cases = sa.Table(
    "storm_cases",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("storm_runs.run_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("golden_id", sa.String(256), nullable=False),
    sa.Column("mutation_type", sa.String(128), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failed_invariants", sa.Text, nullable=False),
)
