"""Better-Auth 1.7.25's organization plugin (teams enabled) and @better-auth/api-key 1.7.5 schema.

Exactly what ``getMigrations`` creates for ``organization({ teams: { enabled: true } })`` and
``apiKey()`` (tests/fixtures/better-auth/schema-*.sql): tables ``organization``, ``team``,
``teamMember``, ``member``, ``invitation``, ``apikey``, and the ``session`` columns
``activeOrganizationId`` and ``activeTeamId``. As in revision 0001, either side may migrate
first: tables, columns and indexes that already exist are left untouched, only what is missing
is added. The tables are defined here, not imported from the models, so that this revision keeps
meaning the same thing when the models move on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Table = tuple[str, list[sa.Column], list[sa.schema.Constraint]]


def _types(dialect: str) -> tuple[sa.types.TypeEngine, sa.types.TypeEngine, object]:
    """(datetime type, boolean type, CURRENT_TIMESTAMP default) as Better-Auth declares them."""
    if dialect == "sqlite":
        return sa.types.DATE(), sa.Integer(), None
    return sa.TIMESTAMP(timezone=True), sa.Boolean(), sa.text("CURRENT_TIMESTAMP")


def _col(
    name: str, type_: sa.types.TypeEngine, *, nullable: bool, default: object = None
) -> sa.Column:
    return sa.Column(name, type_, nullable=nullable, server_default=default)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"{table}_{column}_fkey", ondelete="CASCADE"
    )


def _tables(dialect: str) -> list[Table]:
    """In Better-Auth's order (its DDL creates them so, and column order is part of parity)."""
    date, boolean, now = _types(dialect)
    text, integer = sa.Text(), sa.Integer()
    return [
        (
            "organization",
            [
                _col("id", text, nullable=False),
                _col("name", text, nullable=False),
                _col("slug", text, nullable=False),
                _col("logo", text, nullable=True),
                _col("createdAt", date, nullable=False),
                _col("metadata", text, nullable=True),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="organization_pkey"),
                sa.UniqueConstraint("slug", name="organization_slug_key"),
            ],
        ),
        (
            "team",
            [
                _col("id", text, nullable=False),
                _col("name", text, nullable=False),
                _col("memberCount", integer, nullable=False),
                _col("organizationId", text, nullable=False),
                _col("createdAt", date, nullable=False),
                _col("updatedAt", date, nullable=True),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="team_pkey"),
                _fk("team", "organizationId", "organization"),
            ],
        ),
        (
            "teamMember",
            [
                _col("id", text, nullable=False),
                _col("teamId", text, nullable=False),
                _col("userId", text, nullable=False),
                _col("membershipKey", text, nullable=True),
                _col("createdAt", date, nullable=True),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="teamMember_pkey"),
                _fk("teamMember", "teamId", "team"),
                _fk("teamMember", "userId", "user"),
                sa.UniqueConstraint("membershipKey", name="teamMember_membershipKey_key"),
            ],
        ),
        (
            "member",
            [
                _col("id", text, nullable=False),
                _col("organizationId", text, nullable=False),
                _col("userId", text, nullable=False),
                _col("role", text, nullable=False),
                _col("createdAt", date, nullable=False),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="member_pkey"),
                _fk("member", "organizationId", "organization"),
                _fk("member", "userId", "user"),
            ],
        ),
        (
            "invitation",
            [
                _col("id", text, nullable=False),
                _col("organizationId", text, nullable=False),
                _col("email", text, nullable=False),
                _col("role", text, nullable=True),
                _col("teamId", text, nullable=True),
                _col("status", text, nullable=False),
                _col("expiresAt", date, nullable=False),
                # The only CURRENT_TIMESTAMP default of these tables (PostgreSQL; none on SQLite).
                _col("createdAt", date, nullable=False, default=now),
                _col("inviterId", text, nullable=False),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="invitation_pkey"),
                _fk("invitation", "organizationId", "organization"),
                _fk("invitation", "inviterId", "user"),
            ],
        ),
        (
            "apikey",
            [
                _col("id", text, nullable=False),
                _col("configId", text, nullable=False),
                _col("name", text, nullable=True),
                _col("start", text, nullable=True),
                _col("referenceId", text, nullable=False),
                _col("prefix", text, nullable=True),
                _col("key", text, nullable=False),
                _col("refillInterval", integer, nullable=True),
                _col("refillAmount", integer, nullable=True),
                _col("lastRefillAt", date, nullable=True),
                _col("enabled", boolean, nullable=True),
                _col("rateLimitEnabled", boolean, nullable=True),
                _col("rateLimitTimeWindow", integer, nullable=True),
                _col("rateLimitMax", integer, nullable=True),
                _col("requestCount", integer, nullable=True),
                _col("remaining", integer, nullable=True),
                _col("lastRequest", date, nullable=True),
                _col("expiresAt", date, nullable=True),
                _col("createdAt", date, nullable=False),
                _col("updatedAt", date, nullable=False),
                _col("permissions", text, nullable=True),
                _col("metadata", text, nullable=True),
            ],
            [sa.PrimaryKeyConstraint("id", name="apikey_pkey")],
        ),
    ]


SESSION_COLUMNS = ("activeOrganizationId", "activeTeamId")

INDEXES = [
    ("team_organizationId_idx", "team", "organizationId"),
    ("teamMember_teamId_idx", "teamMember", "teamId"),
    ("teamMember_userId_idx", "teamMember", "userId"),
    ("member_organizationId_idx", "member", "organizationId"),
    ("member_userId_idx", "member", "userId"),
    ("invitation_organizationId_idx", "invitation", "organizationId"),
    ("invitation_email_idx", "invitation", "email"),
    ("apikey_configId_idx", "apikey", "configId"),
    ("apikey_referenceId_idx", "apikey", "referenceId"),
    ("apikey_key_idx", "apikey", "key"),
]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present_in_session = {column["name"] for column in inspector.get_columns("session")}
    for name in SESSION_COLUMNS:
        if name not in present_in_session:
            op.add_column("session", sa.Column(name, sa.Text(), nullable=True))
    existing_tables = set(inspector.get_table_names())
    for name, columns, constraints in _tables(bind.dialect.name):
        if name not in existing_tables:
            op.create_table(name, *columns, *constraints)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns:
            if column.name not in present:
                op.add_column(name, column)
                if (name, column.name) == ("teamMember", "membershipKey"):
                    _add_unique_membership_key(bind.dialect.name)
    for index_name, table, column_name in INDEXES:
        present_indexes = {index["name"] for index in sa.inspect(bind).get_indexes(table)}
        if index_name not in present_indexes:
            op.create_index(index_name, table, [column_name])


def _add_unique_membership_key(dialect: str) -> None:
    """``teamMember`` from an older organization plugin (before ``membershipKey``): the column
    is ``unique`` in Better-Auth's DDL. PostgreSQL gets the constraint under the name its inline
    form has; SQLite cannot add a UNIQUE column, so it gets a unique index of that name."""
    name = "teamMember_membershipKey_key"
    if dialect == "sqlite":
        op.create_index(name, "teamMember", ["membershipKey"], unique=True)
    else:
        op.create_unique_constraint(name, "teamMember", ["membershipKey"])


def downgrade() -> None:
    # Better-Auth's tables: dropping them would destroy every organization and key. Refuse.
    raise NotImplementedError("the Better-Auth schema is never dropped by this service")
