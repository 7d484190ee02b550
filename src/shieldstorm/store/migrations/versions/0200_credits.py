"""Credits ledger tables: accounts (balance never negative), movements (idempotency keys), reservations.

Revision ID: 0200_credits
Revises: 0000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0200_credits"
down_revision = "0000_base"
branch_labels = ("credits",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("tenant", sa.String(256), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        # The last line of defence: whatever the application does, the database refuses an overdraft.
        sa.CheckConstraint("balance >= 0", name="ck_credit_accounts_balance_nonnegative"),
        sa.CheckConstraint("reserved >= 0", name="ck_credit_accounts_reserved_nonnegative"),
    )
    op.create_table(
        "credit_movements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
        sa.Column("reservation_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        # Enforced inside the debiting transaction: a concurrent retry with the same key cannot commit twice.
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_credit_movements_idempotency"),
    )
    op.create_index("ix_credit_movements_tenant_id", "credit_movements", ["tenant", "id"])
    op.create_table(
        "credit_reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(256), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("committed_amount", sa.BigInteger, nullable=True),
        sa.Column("idempotency_key", sa.String(256), nullable=True),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_credit_reservations_amount_positive"),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_credit_reservations_idempotency"),
    )
    op.create_index("ix_credit_reservations_status_expires", "credit_reservations", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("credit_reservations")
    op.drop_table("credit_movements")
    op.drop_table("credit_accounts")
