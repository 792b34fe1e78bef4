"""claim indexes end in id

The worker's claim orders due deliveries by (next_attempt_at, id) and tests each candidate for
an earlier open delivery of its object by (entity_key, status, id < ...). With `id` in both
indexes PostgreSQL answers both from the index in order, as SQLite already did (its rowid ends
every index), and a claim stops after `limit` heads instead of sorting the whole backlog.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.drop_index("ix_deliveries_entity")
        batch_op.create_index("ix_deliveries_due", ["status", "next_attempt_at", "id"])
        batch_op.create_index("ix_deliveries_entity", ["entity_key", "status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_entity")
        batch_op.drop_index("ix_deliveries_due")
        batch_op.create_index("ix_deliveries_entity", ["entity_key", "status"])
        batch_op.create_index("ix_deliveries_due", ["status", "next_attempt_at"])
