"""Base revision. Each concern (audit, credits, storm history, policy) adds its own branch on top of it,
so that their migrations stay independent: `store.migrate` upgrades to every head.

Revision ID: 0000_base
Revises:
"""

revision = "0000_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
