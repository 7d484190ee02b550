"""Policy tables: activated bundles (history, rollback), shadow divergences, recorded traffic sample.

Revision ID: 0400_policy
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400_policy"
down_revision = "0000_base"
branch_labels = ("policy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_activations",
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
    op.create_index("ix_policy_activations_revision", "policy_activations", ["revision"])
    op.create_table(
        "policy_divergences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("input_digest", sa.String(80), nullable=False),
        sa.Column("active_revision", sa.String(256), nullable=False),
        sa.Column("candidate_revision", sa.String(256), nullable=False),
        sa.Column("active", sa.Text, nullable=False),
        sa.Column("candidate", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_policy_divergences_candidate", "policy_divergences", ["candidate_revision"])
    op.create_table(
        "policy_samples",
        sa.Column("input_digest", sa.String(80), primary_key=True),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_samples")
    op.drop_index("ix_policy_divergences_candidate", "policy_divergences")
    op.drop_table("policy_divergences")
    op.drop_index("ix_policy_activations_revision", "policy_activations")
    op.drop_table("policy_activations")
