"""The organization and api-key plugins' models against the rows Better-Auth itself wrote
(tests/fixtures/better-auth/rows-*.json): they load them unchanged, and rows written through
the models are stored exactly as Better-Auth stores its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    ApiKey,
    AuthSession,
    Base,
    Invitation,
    Member,
    Organization,
    Team,
    TeamMember,
    generate_id,
    team_membership_key,
)
from app.models.types import IntBoolean, UtcDateTime
from app.utils.timefmt import parse_iso_utc
from tests.support.vectors import load_rows

# Parents before children (foreign keys).
ORDER = (
    "user",
    "session",
    "account",
    "jwks",
    "organization",
    "member",
    "team",
    "teamMember",
    "invitation",
    "apikey",
)
MODELS: dict[str, type[Base]] = {
    "session": AuthSession,
    "organization": Organization,
    "member": Member,
    "team": Team,
    "teamMember": TeamMember,
    "invitation": Invitation,
    "apikey": ApiKey,
}
# Values that must differ in a second row (primary and unique keys).
UNIQUE = {"id", "slug", "token", "membershipKey"}


def _bind_value(table: str, column: str, value: Any, dialect: str) -> Any:
    """A row value as Better-Auth's driver sends it: on SQLite exactly the stored literal; on
    PostgreSQL, timestamps as datetimes (row_to_json rendered them as text)."""
    column_type = Base.metadata.tables[table].c[column].type
    if dialect != "sqlite" and isinstance(column_type, UtcDateTime) and value is not None:
        return datetime.fromisoformat(value)
    return value


async def _insert(db: AsyncSession, table: str, row: dict[str, Any], dialect: str) -> None:
    names = list(row)
    columns = ", ".join(f'"{name}"' for name in names)
    binds = ", ".join(f":p{index}" for index in range(len(names)))
    params = {
        f"p{index}": _bind_value(table, name, row[name], dialect)
        for index, name in enumerate(names)
    }
    await db.execute(sa.text(f'INSERT INTO "{table}" ({columns}) VALUES ({binds})'), params)


async def _insert_vector_rows(db: AsyncSession, dialect: str) -> dict[str, dict[str, Any]]:
    rows = load_rows(dialect)
    for table in ORDER:
        await _insert(db, table, rows[table], dialect)
    return rows


async def _raw(db: AsyncSession, table: str, row_id: str) -> dict[str, Any]:
    result = await db.execute(sa.text(f'SELECT * FROM "{table}" WHERE id = :id'), {"id": row_id})
    return dict(result.mappings().one())


def _expected(model: type[Base], column: str, value: Any) -> Any:
    column_type = model.__table__.c[column].type  # type: ignore[attr-defined]
    if value is None:
        return None
    if isinstance(column_type, UtcDateTime):
        return parse_iso_utc(value)
    if isinstance(column_type, IntBoolean):
        return bool(value)
    return value


def _attributes(model: type[Base]) -> dict[str, str]:
    """Column name -> attribute name."""
    mapper = sa.inspect(model)
    return {attribute.columns[0].name: attribute.key for attribute in mapper.column_attrs}


@pytest.mark.parametrize("table", list(MODELS))
class TestBetterAuthRowsLoad:
    async def test_every_column_reads_back(
        self, db_session: AsyncSession, dialect: str, table: str
    ) -> None:
        rows = await _insert_vector_rows(db_session, dialect)
        model = MODELS[table]
        row = rows[table]
        loaded = await db_session.get(model, row["id"])
        assert loaded is not None
        attributes = _attributes(model)
        assert set(attributes) == set(row), "the model maps exactly Better-Auth's columns"
        for column, value in row.items():
            assert getattr(loaded, attributes[column]) == _expected(model, column, value), column

    async def test_rows_written_here_are_stored_as_better_auth_stores_them(
        self, db_session: AsyncSession, dialect: str, table: str
    ) -> None:
        rows = await _insert_vector_rows(db_session, dialect)
        model = MODELS[table]
        original = await db_session.get(model, rows[table]["id"])
        assert original is not None
        attributes = _attributes(model)
        values = {attributes[c]: getattr(original, attributes[c]) for c in rows[table]}
        copy_id = generate_id()
        values.update(id=copy_id)
        for column in UNIQUE - {"id"}:
            if column in attributes:
                values[attributes[column]] = f"{values[attributes[column]]}-copy"
        db_session.add(model(**values))
        await db_session.flush()
        theirs = await _raw(db_session, table, rows[table]["id"])
        ours = await _raw(db_session, table, copy_id)
        for column in set(theirs) - UNIQUE:
            assert ours[column] == theirs[column], column
            assert type(ours[column]) is type(theirs[column]), column


class TestDefaults:
    async def test_minimal_rows_get_better_auths_values(
        self, db_session: AsyncSession, dialect: str
    ) -> None:
        """What Better-Auth fills in code, the models fill too (the columns have no defaults)."""
        rows = await _insert_vector_rows(db_session, dialect)
        user_id = rows["user"]["id"]
        organization = Organization(name="Acme", slug=f"acme-{generate_id(8)}")
        db_session.add(organization)
        await db_session.flush()
        team = Team(name="Core", organization_id=organization.id)
        member = Member(organization_id=organization.id, user_id=user_id)
        key = ApiKey(reference_id=user_id, key=generate_id(43))
        db_session.add_all([team, member, key])
        await db_session.flush()
        assert (team.member_count, member.role) == (0, "member")
        assert (key.config_id, key.enabled, key.rate_limit_enabled) == ("default", True, True)
        assert (key.rate_limit_time_window, key.rate_limit_max, key.request_count) == (
            86_400_000,
            10,
            0,
        )
        assert organization.created_at.tzinfo is not None


class TestMembershipKey:
    @pytest.mark.parametrize("dialect_rows", ["sqlite", "postgresql"])
    def test_matches_better_auth(self, dialect_rows: str) -> None:
        row = load_rows(dialect_rows)["teamMember"]
        assert team_membership_key(row["teamId"], row["userId"]) == row["membershipKey"]


class TestCascades:
    async def test_deleting_an_organization_removes_its_members_teams_invitations(
        self, db_session: AsyncSession, dialect: str
    ) -> None:
        rows = await _insert_vector_rows(db_session, dialect)
        organization_id = rows["organization"]["id"]
        await db_session.execute(sa.delete(Organization).where(Organization.id == organization_id))
        for model in (Member, Team, TeamMember, Invitation):
            assert await db_session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
        # The session keeps naming it: activeOrganizationId has no foreign key.
        session = await db_session.get(AuthSession, rows["session"]["id"])
        assert session is not None
        assert session.active_organization_id == organization_id
