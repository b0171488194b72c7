"""Admin API: the audit log, and indexes for listing and searching users.

- ``audit_event`` (ours): append-only record of admin actions; no foreign keys, so removing a
  user keeps the record.
- ``user`` sort indexes (``createdAt, id`` and ``name, id``: the id makes pagination stable);
  ``email`` is already indexed by its unique constraint.
- PostgreSQL: ``pg_trgm`` GIN indexes so case-insensitive substring search (ILIKE '%x%') does
  not scan the table. ``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner
  may create it; Neon ships it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    date = sa.types.DATE() if dialect == "sqlite" else sa.TIMESTAMP(timezone=True)
    document = sa.JSON() if dialect == "sqlite" else JSONB()
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("createdAt", date, nullable=False),
        sa.Column("actorId", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("targetId", sa.Text(), nullable=True),
        sa.Column("detail", document, nullable=False),
        sa.Column("requestId", sa.Text(), nullable=True),
        sa.Column("ipAddress", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="audit_event_pkey"),
    )
    for column in ("createdAt", "actorId", "targetId", "action"):
        op.create_index(f"audit_event_{column}_idx", "audit_event", [column])
    op.create_index("user_createdAt_id_idx", "user", ["createdAt", "id"])
    op.create_index("user_name_id_idx", "user", ["name", "id"])
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in ("email", "name"):
            op.create_index(
                f"user_{column}_trgm_idx",
                "user",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for column in ("email", "name"):
            op.drop_index(f"user_{column}_trgm_idx", table_name="user")
    op.drop_index("user_name_id_idx", table_name="user")
    op.drop_index("user_createdAt_id_idx", table_name="user")
    op.drop_table("audit_event")
