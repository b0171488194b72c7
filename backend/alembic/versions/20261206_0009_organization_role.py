"""Better-Auth 1.7's ``organizationRole`` table (organization plugin, ``dynamicAccessControl``),
and the NOTIFY that keeps every API process's view of it fresh.

The table is exactly what ``getMigrations`` creates for ``organization({ dynamicAccessControl:
{ enabled: true } })`` (tests/fixtures/better-auth/schema-*.sql): ``id``, ``organizationId``
(cascading with its organization), ``role``, ``permission`` (a JSON document as text),
``createdAt`` (``CURRENT_TIMESTAMP`` default on PostgreSQL only), ``updatedAt``, and an index on
``organizationId`` and on ``role``. As in revision 0004, either side may migrate first: a table or
index that already exists is left as it is.

The trigger announces each change on the identity channel of revision 0003: INSERT, UPDATE or
DELETE -> ``r:<organizationId>`` (both organizations when a row moves), so that every process
forgets the organization's roles (``app.services.organizations.cache``). Deleting an organization
deletes its roles by cascade, and their row triggers fire too. SQLite has no NOTIFY.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "bab_identity"
TABLE = "organizationRole"
INDEXES = (
    ("organizationRole_organizationId_idx", "organizationId"),
    ("organizationRole_role_idx", "role"),
)


def _columns(dialect: str) -> list[sa.schema.SchemaItem]:
    """In Better-Auth's column order (part of parity), with its constraint names."""
    sqlite = dialect == "sqlite"
    date = sa.types.DATE() if sqlite else sa.TIMESTAMP(timezone=True)
    now = None if sqlite else sa.text("CURRENT_TIMESTAMP")
    return [
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("organizationId", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("permission", sa.Text(), nullable=False),
        sa.Column("createdAt", date, nullable=False, server_default=now),
        sa.Column("updatedAt", date, nullable=True),
        sa.PrimaryKeyConstraint("id", name="organizationRole_pkey"),
        sa.ForeignKeyConstraint(
            ["organizationId"],
            ["organization.id"],
            name="organizationRole_organizationId_fkey",
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if TABLE not in set(inspector.get_table_names()):
        op.create_table(TABLE, *_columns(bind.dialect.name))
    present = {index["name"] for index in sa.inspect(bind).get_indexes(TABLE)}
    for name, column in INDEXES:
        if name not in present:
            op.create_index(name, TABLE, [column])
    if bind.dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_organization_role_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', 'r:' || OLD."organizationId");
            END IF;
            IF TG_OP = 'INSERT'
               OR (TG_OP = 'UPDATE' AND NEW."organizationId" <> OLD."organizationId") THEN
                PERFORM pg_notify('{CHANNEL}', 'r:' || NEW."organizationId");
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(f'DROP TRIGGER IF EXISTS organization_role_identity_notify ON "{TABLE}"')
    op.execute(
        "CREATE TRIGGER organization_role_identity_notify "
        f'AFTER INSERT OR UPDATE OR DELETE ON "{TABLE}" '
        "FOR EACH ROW EXECUTE FUNCTION bab_notify_organization_role_change()"
    )


def downgrade() -> None:
    # The table is Better-Auth's (it holds the organizations' roles): only our trigger goes.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f'DROP TRIGGER IF EXISTS organization_role_identity_notify ON "{TABLE}"')
    op.execute("DROP FUNCTION IF EXISTS bab_notify_organization_role_change()")
