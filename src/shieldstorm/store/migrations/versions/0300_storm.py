"""Storm run history: one row per run (with the full JSON report) and one row per mutated case.

Revision ID: 0300_storm
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0300_storm"
down_revision = "0000_base"
branch_labels = ("storm",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storm_runs",
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
    op.create_index("ix_storm_runs_started_at", "storm_runs", ["started_at"])
    op.create_table(
        "storm_cases",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("storm_runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("golden_id", sa.String(256), nullable=False),
        sa.Column("mutation_type", sa.String(128), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("failed_invariants", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("storm_cases")
    op.drop_index("ix_storm_runs_started_at", table_name="storm_runs")
    op.drop_table("storm_runs")
