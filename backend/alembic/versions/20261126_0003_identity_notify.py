"""Cache invalidation feed: NOTIFY on changes to users and sessions (PostgreSQL).

Every API process caches users' role/ban state and sessions, and LISTENs on ``bab_identity``.
These triggers announce each change, whoever makes it (this API, Better-Auth's admin plugin, or
SQL typed by hand):

- ``"user"``: any UPDATE or DELETE -> ``u:<id>``
- ``"session"``: DELETE, or UPDATE of ``expiresAt`` (Better-Auth extending it) -> ``s:<id>``

pg_notify is transactional: the notice is delivered at commit, never for a rolled-back change.
SQLite has no NOTIFY; there the cache relies on its own writes and a short TTL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "bab_identity"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_user_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', 'u:' || OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_session_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', 's:' || OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        'CREATE TRIGGER user_identity_notify AFTER UPDATE OR DELETE ON "user" '
        "FOR EACH ROW EXECUTE FUNCTION bab_notify_user_change()"
    )
    op.execute(
        'CREATE TRIGGER session_identity_notify AFTER DELETE OR UPDATE OF "expiresAt" '
        'ON "session" FOR EACH ROW EXECUTE FUNCTION bab_notify_session_change()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('DROP TRIGGER IF EXISTS session_identity_notify ON "session"')
    op.execute('DROP TRIGGER IF EXISTS user_identity_notify ON "user"')
    op.execute("DROP FUNCTION IF EXISTS bab_notify_session_change()")
    op.execute("DROP FUNCTION IF EXISTS bab_notify_user_change()")
