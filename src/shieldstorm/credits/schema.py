"""SQL tables of the credits ledger (SQLAlchemy Core). Migration 0200_credits creates them.

- credit_accounts: one row per tenant; `balance` is what the tenant can still spend (CHECK balance >= 0),
  `reserved` the sum of held reservations (already taken out of `balance`).
- credit_movements: the append-only history; every change of a balance is one row. A movement made with an
  idempotency key is unique per (tenant, key), which is what makes retries debit once.
- credit_reservations: holds taken by `reserve`, settled by commit, cancel or expiry.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

accounts = sa.Table(
    "credit_accounts",
    metadata,
    sa.Column("tenant", sa.String(256), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
)

movements = sa.Table(
    "credit_movements",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("idempotency_key", sa.String(256), nullable=True),
    sa.Column("reservation_id", sa.String(64), nullable=True),
    sa.Column("reason", sa.String(512), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)

reservations = sa.Table(
    "credit_reservations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(256), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("committed_amount", sa.BigInteger, nullable=True),
    sa.Column("idempotency_key", sa.String(256), nullable=True),
    sa.Column("reason", sa.String(512), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
