"""SQL tables of the audit log (SQLAlchemy Core). Migration 0100_audit creates them.

- audit_leaves: one row per entry: index, unique event id, leaf hash, the leaf record bytes, commit time.
- audit_nodes: every complete perfect subtree above the leaves, keyed by its in-order position
  (see merkle.node_position); written once at append time, so roots and proofs are O(log n) lookups.
- audit_head: the single row (id = 1) holding the tree size and root; appenders lock it to serialise.
- audit_checkpoints: signed checkpoints (C2SP signed-note text) by tree size.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

leaves = sa.Table(
    "audit_leaves",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("event_id", name="uq_audit_leaves_event_id"),
)

nodes = sa.Table(
    "audit_nodes",
    metadata,
    sa.Column("pos", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
)

checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
