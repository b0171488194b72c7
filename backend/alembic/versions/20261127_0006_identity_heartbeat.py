"""Invalidation feed heartbeat: a row each API process updates, announced by the user trigger's
own function (PostgreSQL).

Once LISTEN succeeds, nothing else shows that notices still arrive: behind a transaction pooler
the LISTEN can silently land on a server connection that serves others, and a dropped or
disabled trigger sends nothing at all. Every API process therefore updates its own row here
every few seconds, over a connection to ``DATABASE_URL`` (the path Better-Auth's writes take),
and waits for the notice on its listener. The trigger runs ``bab_notify_user_change`` (revision
0003), so a beat travels the same function, channel and commit-time delivery as a ban.

- ``bab_identity_heartbeat``: ``id`` (``bab-heartbeat:<process>``), ``beat`` (a counter),
  ``updatedAt``. No model: it is the listener's, not the API's data.
- ``identity_heartbeat_notify``: AFTER UPDATE -> ``u:bab-heartbeat:<process>``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS bab_identity_heartbeat (
            id text PRIMARY KEY,
            beat bigint NOT NULL DEFAULT 0,
            "updatedAt" timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("DROP TRIGGER IF EXISTS identity_heartbeat_notify ON bab_identity_heartbeat")
    op.execute(
        "CREATE TRIGGER identity_heartbeat_notify AFTER UPDATE ON bab_identity_heartbeat "
        "FOR EACH ROW EXECUTE FUNCTION bab_notify_user_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE IF EXISTS bab_identity_heartbeat")
