"""The invalidation feed's self-check, in SQL: which of the triggers that announce changes are
missing or disabled, and the statements of the heartbeat row (revision 0006) whose notice proves
the feed's path end to end. ``InvalidationListener`` runs them; readiness reuses the trigger check.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from app.database import DatabaseTarget

HEARTBEAT_TABLE = "bab_identity_heartbeat"
HEARTBEAT_PREFIX = "bab-heartbeat:"
# (table, trigger): what revisions 0003 and 0004 create.
EXPECTED_TRIGGERS: tuple[tuple[str, str], ...] = (
    ("user", "user_identity_notify"),
    ("session", "session_identity_notify"),
    (HEARTBEAT_TABLE, "identity_heartbeat_notify"),
    # The subscribers' triggers: API keys (revision 0005), organizations (revision 0007).
    ("apikey", "apikey_identity_notify"),
    ("member", "member_identity_notify"),
    ("organization", "organization_identity_notify"),
    ("session", "session_active_organization_notify"),
    # Organizations' dynamic roles (revision 0009).
    ("organizationRole", "organization_role_identity_notify"),
)
# The expected triggers that are absent or disabled (ALTER TABLE ... DISABLE TRIGGER), as
# "table.trigger". Tables resolve through the search path, as the app's own queries do.
MISSING_TRIGGERS_SQL = """
SELECT e.tbl || '.' || e.name
FROM unnest(CAST(:tables AS text[]), CAST(:names AS text[])) AS e(tbl, name)
WHERE NOT EXISTS (
    SELECT 1 FROM pg_trigger t
    WHERE t.tgrelid = to_regclass(quote_ident(e.tbl))
      AND t.tgname = e.name
      AND t.tgenabled <> 'D'
)
ORDER BY 1
"""


# The heartbeat's statements (the table is bab_identity_heartbeat, revision 0006).
HEARTBEAT_SWEEP_SQL = (
    "DELETE FROM bab_identity_heartbeat WHERE \"updatedAt\" < now() - interval '1 hour'"
)
HEARTBEAT_INSERT_SQL = (
    "INSERT INTO bab_identity_heartbeat (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
)
HEARTBEAT_BEAT_SQL = (
    'UPDATE bab_identity_heartbeat SET beat = beat + 1, "updatedAt" = now() WHERE id = $1'
)
HEARTBEAT_FORGET_SQL = "DELETE FROM bab_identity_heartbeat WHERE id = $1"


def trigger_query_params() -> dict[str, list[str]]:
    return {
        "tables": [table for table, _ in EXPECTED_TRIGGERS],
        "names": [name for _, name in EXPECTED_TRIGGERS],
    }


def _asyncpg_sql(sql: str) -> str:
    return sql.replace(":tables", "$1").replace(":names", "$2")


async def fetch_missing_triggers(connection: asyncpg.Connection) -> tuple[str, ...]:
    """``MISSING_TRIGGERS_SQL`` over a raw asyncpg connection (the listener's beat connection)."""
    rows = await connection.fetch(
        _asyncpg_sql(MISSING_TRIGGERS_SQL), *trigger_query_params().values()
    )
    return tuple(row[0] for row in rows)


class HeartbeatLost(ConnectionError):
    """Our own heartbeat's notice did not come back in time."""


async def open_connection(target: DatabaseTarget) -> asyncpg.Connection:
    """A connection of the feed's own (the LISTEN, or the beats), outside every pool: LISTEN
    holds a session, which a pooled connection would hand to others."""
    url = target.url
    args: dict[str, Any] = dict(target.connect_args)
    # The pool-only options make no sense for a single connection.
    args.pop("prepared_statement_name_func", None)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=args.pop("timeout", 5.0),
        **args,
    )


async def close_connection(connection: asyncpg.Connection | None, *, within: float = 2.0) -> None:
    """Close a feed connection, at most ``within`` seconds, never raising but on cancellation.
    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` returns normally when a
    cancellation arrives as the close completes, and the listener's loop would carry on."""
    if connection is None or connection.is_closed():
        return
    try:
        async with asyncio.timeout(within):
            await connection.close()
    except Exception:  # a server that does not answer the goodbye: drop the socket
        connection.terminate()


async def forget_beat(connection: asyncpg.Connection | None, beat_id: str) -> None:
    """Delete this process's heartbeat row at shutdown; best effort (a beat may be in flight on
    that connection, or the connection gone)."""
    if connection is None or connection.is_closed():
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2.0):
            await connection.execute(HEARTBEAT_FORGET_SQL, beat_id)
