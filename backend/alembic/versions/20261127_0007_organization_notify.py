"""Cache invalidation for organizations: NOTIFY on members, organizations and the active
organization of a session (PostgreSQL).

Every API process caches memberships (who belongs to which organization, with which role) and
each session's ``activeOrganizationId`` (``app.services.organizations.cache``). These triggers
announce each change on the identity channel of revision 0003, whoever makes it:

- ``member``: INSERT, UPDATE or DELETE -> ``m:<userId>`` (both users if ``userId`` changes);
- ``organization``: UPDATE or DELETE -> ``o:<id>`` (deleting one also deletes its members,
  whose own triggers fire);
- ``session``: UPDATE that changes ``activeOrganizationId`` -> ``a:<id>`` (a deleted session is
  announced by revision 0003's ``s:<id>``).

SQLite has no NOTIFY; there the cache relies on its own writes and a short TTL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "bab_identity"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_member_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify('{CHANNEL}', 'm:' || OLD."userId");
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW."userId" <> OLD."userId") THEN
                PERFORM pg_notify('{CHANNEL}', 'm:' || NEW."userId");
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_organization_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', 'o:' || OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_active_organization_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', 'a:' || OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        'CREATE TRIGGER member_identity_notify AFTER INSERT OR UPDATE OR DELETE ON "member" '
        "FOR EACH ROW EXECUTE FUNCTION bab_notify_member_change()"
    )
    op.execute(
        'CREATE TRIGGER organization_identity_notify AFTER UPDATE OR DELETE ON "organization" '
        "FOR EACH ROW EXECUTE FUNCTION bab_notify_organization_change()"
    )
    op.execute(
        'CREATE TRIGGER session_active_organization_notify AFTER UPDATE OF "activeOrganizationId" '
        'ON "session" FOR EACH ROW '
        'WHEN (OLD."activeOrganizationId" IS DISTINCT FROM NEW."activeOrganizationId") '
        "EXECUTE FUNCTION bab_notify_active_organization_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('DROP TRIGGER IF EXISTS session_active_organization_notify ON "session"')
    op.execute('DROP TRIGGER IF EXISTS organization_identity_notify ON "organization"')
    op.execute('DROP TRIGGER IF EXISTS member_identity_notify ON "member"')
    op.execute("DROP FUNCTION IF EXISTS bab_notify_active_organization_change()")
    op.execute("DROP FUNCTION IF EXISTS bab_notify_organization_change()")
    op.execute("DROP FUNCTION IF EXISTS bab_notify_member_change()")
