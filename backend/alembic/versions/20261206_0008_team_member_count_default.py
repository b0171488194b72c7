"""``team.memberCount`` gets a server default of 0, so that Better-Auth 1.6 can share the database.

Better-Auth 1.7 added ``memberCount`` to the organization plugin's ``team`` table (NOT NULL, no
default in its DDL: 1.7 writes 0 itself when it creates a team). 1.6 knows no such column and
never writes it, so with revision 0004's schema its ``/organization/create`` failed with a 500 on
the NOT NULL constraint, after it had already written the organization and its owner. A server
default of 0 is the value 1.7 writes; 1.7 itself behaves the same either way. This is the one
deliberate difference from Better-Auth 1.7's own DDL (docs/reference/better-auth-versions.md;
tests/support/schema.py ``DELIBERATE_DIFFERENCES``).

SQLite cannot ``ALTER COLUMN ... SET DEFAULT``. Rebuilding the table (Alembic's batch mode) would
drop ``team`` under its ``teamMember`` rows' ON DELETE CASCADE, so the default is written into the
stored ``CREATE TABLE`` instead: the procedure SQLite documents for changing a column's default
(https://www.sqlite.org/lang_altertable.html#otheralter, the simpler one: no data is touched).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column as Better-Auth's DDL ("memberCount" integer not null) or revision 0004 through
# SQLAlchemy ("memberCount" INTEGER NOT NULL) wrote it, with or without a default already.
_SQLITE_COLUMN = re.compile(r'("memberCount"\s+integer)(\s+default\s+0)?(\s+not\s+null)', re.I)


def _set_sqlite_default(connection: Connection, default: str) -> None:
    stored = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'team'"
    ).scalar_one()
    changed = _SQLITE_COLUMN.sub(lambda m: f"{m[1]}{default}{m[3]}", stored, count=1)
    if changed == stored:
        return
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        connection.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'team'", (changed,)
        )
        # Other connections see the new schema because its version moved.
        connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        connection.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _set_sqlite_default(connection, " DEFAULT 0")
        return
    op.execute('ALTER TABLE "team" ALTER COLUMN "memberCount" SET DEFAULT 0')


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        _set_sqlite_default(connection, "")
        return
    op.execute('ALTER TABLE "team" ALTER COLUMN "memberCount" DROP DEFAULT')
