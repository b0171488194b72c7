"""create project

Revision ID: bf2a34517219
Revises: 0009
Create Date: 2026-12-06 18:16:41.207784
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.types import UtcDateTime

revision: str = "bf2a34517219"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "project",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("organizationId", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("createdBy", sa.Text(), nullable=False),
        sa.Column("createdAt", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["createdBy"], ["user.id"], name=op.f("project_createdBy_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organizationId"],
            ["organization.id"],
            name=op.f("project_organizationId_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("project_pkey")),
    )
    op.create_index(op.f("project_createdBy_idx"), "project", ["createdBy"])
    op.create_index(op.f("project_organizationId_idx"), "project", ["organizationId"])


def downgrade() -> None:
    op.drop_index(op.f("project_organizationId_idx"), table_name="project")
    op.drop_index(op.f("project_createdBy_idx"), table_name="project")
    op.drop_table("project")
