"""Cache invalidation feed for API keys: NOTIFY on changes to ``apikey`` (PostgreSQL).

Every API process caches the static fields of the keys it has seen (app.services.apikeys) and
LISTENs on ``bab_identity`` (revision 0003's channel). This trigger announces ``k:<id>`` on
DELETE and on an UPDATE that sets a static column (Better-Auth's update-api-key, or SQL). It
does not fire for the counters a verification writes (``remaining``, ``lastRefillAt``,
``requestCount``, ``lastRequest``, ``updatedAt``): those are never cached, and a notice per
request would empty the cache as fast as it fills.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "bab_identity"
STATIC_COLUMNS = (
    '"enabled", "expiresAt", "permissions", "referenceId", "key", "configId", "name", '
    '"metadata", "prefix", "start"'
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION bab_notify_apikey_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', 'k:' || OLD.id);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER apikey_identity_notify AFTER DELETE OR UPDATE OF {STATIC_COLUMNS} "
        'ON "apikey" FOR EACH ROW EXECUTE FUNCTION bab_notify_apikey_change()'
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute('DROP TRIGGER IF EXISTS apikey_identity_notify ON "apikey"')
    op.execute("DROP FUNCTION IF EXISTS bab_notify_apikey_change()")
