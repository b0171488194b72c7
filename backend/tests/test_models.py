"""Models read rows the way Better-Auth writes them and write rows Better-Auth can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, AuthSession, Jwks, User, Verification, generate_id
from app.utils.timefmt import format_iso_utc, parse_iso_utc
from tests.support.vectors import load_rows


def vector_rows(dialect: str) -> dict[str, dict[str, object]]:
    return load_rows(dialect)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def insert_better_auth_user(
    session: AsyncSession, dialect: str, row: dict[str, object]
) -> None:
    """INSERT exactly as Better-Auth does on each dialect (raw SQL, its value formats)."""
    params = dict(row)
    for key in ("createdAt", "updatedAt", "banExpires"):
        if params.get(key) is not None:
            value = _ts(str(params[key]))
            params[key] = format_iso_utc(value) if dialect == "sqlite" else value
    if dialect == "sqlite":
        params["emailVerified"] = int(bool(params["emailVerified"]))
        params["banned"] = None if params["banned"] is None else int(bool(params["banned"]))
    await session.execute(
        text(
            'INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt", '
            '"updatedAt", role, banned, "banReason", "banExpires") VALUES (:id, :name, :email, '
            ":emailVerified, :image, :createdAt, :updatedAt, :role, :banned, :banReason, "
            ":banExpires)"
        ),
        params,
    )


class TestIds:
    def test_generate_id_is_better_auth_shaped(self) -> None:
        ids = {generate_id() for _ in range(200)}
        assert len(ids) == 200
        assert all(len(i) == 32 and i.isalnum() and i.isascii() for i in ids)


class TestIsoFormat:
    def test_javascript_iso_format(self) -> None:
        value = datetime(2026, 11, 26, 17, 46, 11, 446999, tzinfo=UTC)
        assert format_iso_utc(value) == "2026-11-26T17:46:11.446Z"

    def test_naive_is_utc_and_offsets_are_converted(self) -> None:
        assert format_iso_utc(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"
        plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=UTC).astimezone(
            __import__("datetime").timezone(timedelta(hours=2))
        )
        assert format_iso_utc(plus_two) == "2026-01-02T05:04:05.000Z"

    @pytest.mark.parametrize(
        "raw",
        [
            "2026-11-26T17:46:11.446Z",
            "2026-11-26 17:46:11.446",
            "2026-11-26T18:46:11.446+01:00",
            1795715171446,
        ],
    )
    def test_parse_forms(self, raw: str | int) -> None:
        assert parse_iso_utc(raw) == datetime(2026, 11, 26, 17, 46, 11, 446000, tzinfo=UTC)


class TestBetterAuthRows:
    async def test_reads_a_row_written_by_better_auth(
        self, db_session: AsyncSession, dialect: str
    ) -> None:
        row = vector_rows(dialect)["user"]
        await insert_better_auth_user(db_session, dialect, row)
        user = await db_session.get(User, row["id"])
        assert user is not None
        assert user.email == row["email"]
        assert user.email_verified is False
        assert user.banned is False
        assert user.role == "user"
        assert user.created_at == _ts(str(row["createdAt"]))
        assert user.created_at.tzinfo is not None

    async def test_writes_rows_better_auth_can_read(
        self, db_session: AsyncSession, dialect: str
    ) -> None:
        user = User(name="Ada", email="ada@example.com")
        db_session.add(user)
        await db_session.flush()
        raw = (
            await db_session.execute(
                text(
                    'SELECT id, role, banned, "emailVerified", "createdAt" FROM "user" '
                    "WHERE email = 'ada@example.com'"
                )
            )
        ).one()
        assert len(raw.id) == 32
        assert raw.role == "user"
        if dialect == "sqlite":
            assert raw.banned == 0
            assert raw.emailVerified == 0
            assert isinstance(raw.createdAt, str)
            assert raw.createdAt.endswith("Z")
            assert len(raw.createdAt) == len("2026-11-26T17:46:11.446Z")
        else:
            assert raw.banned is False
            assert raw.createdAt.tzinfo is not None

    async def test_sqlite_reads_better_auth_sqlite_literals(
        self, db_session: AsyncSession, dialect: str
    ) -> None:
        if dialect != "sqlite":
            pytest.skip("SQLite storage format")
        await db_session.execute(
            text(
                "INSERT INTO \"user\" VALUES ('7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs', 'S', "
                "'s@example.com', 0, NULL, '2026-11-26T17:46:11.446Z', "
                "'2026-11-26T17:46:11.446Z', 'user', 0, NULL, NULL)"
            )
        )
        user = await db_session.get(User, "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs")
        assert user is not None
        assert user.updated_at == datetime(2026, 11, 26, 17, 46, 11, 446000, tzinfo=UTC)

    async def test_session_account_verification_jwks_round_trip(
        self, db_session: AsyncSession
    ) -> None:
        user = User(
            name="Bo",
            email="bo@example.com",
            role="admin,user",
            banned=True,
            ban_reason="spam",
            ban_expires=datetime(2030, 1, 1, tzinfo=UTC),
        )
        db_session.add(user)
        await db_session.flush()
        expires = datetime(2026, 12, 3, 17, 52, 37, 232000, tzinfo=UTC)
        db_session.add_all(
            [
                AuthSession(
                    user_id=user.id,
                    token=generate_id(),
                    expires_at=expires,
                    ip_address="",
                    user_agent="",
                ),
                Account(
                    user_id=user.id,
                    account_id=user.id,
                    provider_id="credential",
                    password="salt:hash",
                ),
                Verification(identifier="email:bo@example.com", value="x", expires_at=expires),
                Jwks(
                    public_key='{"crv":"Ed25519","x":"abc","kty":"OKP"}',
                    private_key="enc",
                    alg="EdDSA",
                    crv="Ed25519",
                ),
            ]
        )
        await db_session.flush()
        db_session.expunge_all()
        loaded = (
            await db_session.execute(select(AuthSession).where(AuthSession.user_id == user.id))
        ).scalar_one()
        assert loaded.expires_at == expires
        assert loaded.updated_at.tzinfo is not None
        again = await db_session.get(User, user.id)
        assert again is not None
        assert again.banned is True
        assert again.ban_expires == datetime(2030, 1, 1, tzinfo=UTC)

    async def test_deleting_a_user_cascades(self, db_session: AsyncSession) -> None:
        user = User(name="Cy", email="cy@example.com")
        db_session.add(user)
        await db_session.flush()
        db_session.add(
            AuthSession(
                user_id=user.id, token=generate_id(), expires_at=datetime(2030, 1, 1, tzinfo=UTC)
            )
        )
        db_session.add(Account(user_id=user.id, account_id="a", provider_id="credential"))
        await db_session.flush()
        await db_session.execute(delete(User).where(User.id == user.id))
        count_sessions = await db_session.scalar(
            text('SELECT count(*) FROM "session" WHERE "userId" = :id'), {"id": user.id}
        )
        count_accounts = await db_session.scalar(
            text('SELECT count(*) FROM "account" WHERE "userId" = :id'), {"id": user.id}
        )
        assert (count_sessions, count_accounts) == (0, 0)

    def test_reprs_hide_secrets(self) -> None:
        account = Account(id="a1", provider_id="credential", password="salt:hash")
        session = AuthSession(id="s1", user_id="u1", token="tok")
        assert "salt" not in repr(account)
        assert "tok" not in repr(session)
