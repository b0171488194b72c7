"""Better-Auth 1.7.25 schema (core + jwt + admin plugins), exactly as Better-Auth creates it.

Operators may run Better-Auth's own migration first or this one first. Tables and columns that
already exist are left untouched; only what is missing is added (e.g. the admin plugin's
columns on a database that Better-Auth migrated without that plugin).

This revision defines its tables itself rather than importing the app's models: a migration
must keep meaning the same thing when the models move on.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _types(dialect: str) -> tuple[sa.types.TypeEngine, sa.types.TypeEngine, object]:
    """(datetime type, boolean type, CURRENT_TIMESTAMP default) as Better-Auth declares them."""
    if dialect == "sqlite":
        return sa.types.DATE(), sa.Integer(), None
    return sa.TIMESTAMP(timezone=True), sa.Boolean(), sa.text("CURRENT_TIMESTAMP")


def _tables(dialect: str) -> list[tuple[str, list[sa.Column], list[sa.schema.Constraint]]]:
    date, boolean, now = _types(dialect)

    def col(name: str, type_: sa.types.TypeEngine, *, nullable: bool, default: object = None):
        return sa.Column(name, type_, nullable=nullable, server_default=default)

    return [
        (
            "user",
            [
                col("id", sa.Text(), nullable=False),
                col("name", sa.Text(), nullable=False),
                col("email", sa.Text(), nullable=False),
                col("emailVerified", boolean, nullable=False),
                col("image", sa.Text(), nullable=True),
                col("createdAt", date, nullable=False, default=now),
                col("updatedAt", date, nullable=False, default=now),
                col("role", sa.Text(), nullable=True),
                col("banned", boolean, nullable=True),
                col("banReason", sa.Text(), nullable=True),
                col("banExpires", date, nullable=True),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="user_pkey"),
                sa.UniqueConstraint("email", name="user_email_key"),
            ],
        ),
        (
            "session",
            [
                col("id", sa.Text(), nullable=False),
                col("expiresAt", date, nullable=False),
                col("token", sa.Text(), nullable=False),
                col("createdAt", date, nullable=False, default=now),
                col("updatedAt", date, nullable=False),
                col("ipAddress", sa.Text(), nullable=True),
                col("userAgent", sa.Text(), nullable=True),
                col("userId", sa.Text(), nullable=False),
                col("impersonatedBy", sa.Text(), nullable=True),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="session_pkey"),
                sa.UniqueConstraint("token", name="session_token_key"),
                sa.ForeignKeyConstraint(
                    ["userId"], ["user.id"], name="session_userId_fkey", ondelete="CASCADE"
                ),
            ],
        ),
        (
            "account",
            [
                col("id", sa.Text(), nullable=False),
                col("accountId", sa.Text(), nullable=False),
                col("providerId", sa.Text(), nullable=False),
                col("userId", sa.Text(), nullable=False),
                col("accessToken", sa.Text(), nullable=True),
                col("refreshToken", sa.Text(), nullable=True),
                col("idToken", sa.Text(), nullable=True),
                col("accessTokenExpiresAt", date, nullable=True),
                col("refreshTokenExpiresAt", date, nullable=True),
                col("scope", sa.Text(), nullable=True),
                col("password", sa.Text(), nullable=True),
                col("createdAt", date, nullable=False, default=now),
                col("updatedAt", date, nullable=False),
            ],
            [
                sa.PrimaryKeyConstraint("id", name="account_pkey"),
                sa.ForeignKeyConstraint(
                    ["userId"], ["user.id"], name="account_userId_fkey", ondelete="CASCADE"
                ),
            ],
        ),
        (
            "verification",
            [
                col("id", sa.Text(), nullable=False),
                col("identifier", sa.Text(), nullable=False),
                col("value", sa.Text(), nullable=False),
                col("expiresAt", date, nullable=False),
                col("createdAt", date, nullable=False, default=now),
                col("updatedAt", date, nullable=False, default=now),
            ],
            [sa.PrimaryKeyConstraint("id", name="verification_pkey")],
        ),
        (
            "jwks",
            [
                col("id", sa.Text(), nullable=False),
                col("publicKey", sa.Text(), nullable=False),
                col("privateKey", sa.Text(), nullable=False),
                col("createdAt", date, nullable=False),
                col("expiresAt", date, nullable=True),
                col("alg", sa.Text(), nullable=True),
                col("crv", sa.Text(), nullable=True),
            ],
            [sa.PrimaryKeyConstraint("id", name="jwks_pkey")],
        ),
    ]


INDEXES = [
    ("session_userId_idx", "session", "userId"),
    ("account_userId_idx", "account", "userId"),
    ("verification_identifier_idx", "verification", "identifier"),
]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing_tables = set(inspector.get_table_names())
    for name, columns, constraints in _tables(bind.dialect.name):
        if name not in existing_tables:
            op.create_table(name, *columns, *constraints)
            continue
        present = {column["name"] for column in inspector.get_columns(name)}
        for column in columns:
            if column.name not in present:
                op.add_column(name, column)
    for index_name, table, column_name in INDEXES:
        present_indexes = {index["name"] for index in sa.inspect(bind).get_indexes(table)}
        if index_name not in present_indexes:
            op.create_index(index_name, table, [column_name])


def downgrade() -> None:
    # These tables belong to Better-Auth as much as to us: dropping them would destroy every
    # account. Refuse rather than guess.
    raise NotImplementedError("the Better-Auth schema is never dropped by this service")
