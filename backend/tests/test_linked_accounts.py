"""``GET /api/v1/users/{userId}`` shows how the user signs in (their linked accounts: provider,
account id, when), to callers allowed to get users and to the user themself; never a token, a
secret or the password hash, and the user list stays without accounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Account, User
from app.schemas.user import LinkedAccountRead, UserDetail, UserRead
from app.services.users.accounts import UserAccountService
from app.utils.errors import NotFound
from app.utils.timefmt import format_iso_utc
from tests.support.factories import create_session, create_user

USERS = "/api/v1/users"
PASSWORD = "correct-horse-battery-staple"
# What Better-Auth keeps in an account row and the API must never show, by its JSON name.
SECRET_FIELDS = (
    "password",
    "accessToken",
    "refreshToken",
    "idToken",
    "accessTokenExpiresAt",
    "refreshTokenExpiresAt",
    "scope",
)
PUBLIC_FIELDS = {"providerId", "accountId", "createdAt"}


async def bearer(db: AsyncSession, user: User) -> dict[str, str]:
    session = await create_session(db, user)
    return {"Authorization": f"Bearer {session.token}"}


@pytest.fixture
async def admin_headers(db_session: AsyncSession) -> dict[str, str]:
    admin = await create_user(db_session, role="admin", email="linked-admin@example.com")
    return await bearer(db_session, admin)


def oauth_account(user: User, provider_id: str, account_id: str, created_at: datetime) -> Account:
    """An account row as Better-Auth's OAuth callback stores it (tokens in clear text)."""
    return Account(
        user_id=user.id,
        provider_id=provider_id,
        account_id=account_id,
        access_token=f"secret-access-{provider_id}",
        refresh_token=f"secret-refresh-{provider_id}",
        id_token=f"eyJhbGciOiJSUzI1NiJ9.secret-id-token-{provider_id}.c2ln",
        access_token_expires_at=created_at + timedelta(hours=1),
        refresh_token_expires_at=created_at + timedelta(days=30),
        scope="openid,email,profile",
        created_at=created_at,
        updated_at=created_at,
    )


@pytest.fixture
async def linked(
    client: httpx.AsyncClient, db_session: AsyncSession, admin_headers: dict[str, str]
) -> tuple[User, list[Account]]:
    """A user created with a password through the API (its credential row holds a real hash),
    then linked to GitHub and to an OIDC provider."""
    created = await client.post(
        USERS,
        json={"email": "linked@example.com", "password": PASSWORD, "name": "Linked"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    user = await db_session.get(User, created.json()["id"])
    assert user is not None
    start = datetime.now(UTC) + timedelta(minutes=1)
    extra = [
        oauth_account(user, "local-oidc", "sub-1234", start + timedelta(minutes=2)),
        oauth_account(user, "github", "583231", start),
    ]
    db_session.add_all(extra)
    await db_session.flush()
    rows = (await db_session.scalars(select(Account).where(Account.user_id == user.id))).all()
    return user, list(rows)


def assert_no_secret(body: str, rows: list[Account]) -> None:
    for row in rows:
        for secret in (row.password, row.access_token, row.refresh_token, row.id_token):
            if secret:
                assert secret not in body
    for name in SECRET_FIELDS:
        assert f'"{name}"' not in body


class TestReadUserShowsLinkedAccounts:
    async def test_admin_sees_provider_account_and_date_oldest_first(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        linked: tuple[User, list[Account]],
    ) -> None:
        user, rows = linked
        response = await client.get(f"{USERS}/{user.id}", headers=admin_headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["email"] == "linked@example.com"
        by_provider = {row.provider_id: row for row in rows}
        assert [a["providerId"] for a in body["accounts"]] == ["credential", "github", "local-oidc"]
        for account in body["accounts"]:
            assert set(account) == PUBLIC_FIELDS
            row = by_provider[account["providerId"]]
            assert account["accountId"] == row.account_id
            # Better-Auth's date format: milliseconds, UTC, "Z".
            assert account["createdAt"] == format_iso_utc(row.created_at)
        # Better-Auth's credential row: the account id is the user's own id.
        assert body["accounts"][0]["accountId"] == user.id

    async def test_never_a_token_secret_or_password_hash(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        linked: tuple[User, list[Account]],
    ) -> None:
        user, rows = linked
        credential = next(row for row in rows if row.provider_id == "credential")
        assert credential.password
        assert ":" in credential.password  # a real salt:hash
        assert all(row.access_token for row in rows if row.provider_id != "credential")
        response = await client.get(f"{USERS}/{user.id}", headers=admin_headers)
        assert response.status_code == 200
        assert_no_secret(response.text, rows)

    async def test_user_sees_their_own_accounts(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        linked: tuple[User, list[Account]],
    ) -> None:
        user, rows = linked
        response = await client.get(f"{USERS}/{user.id}", headers=await bearer(db_session, user))
        assert response.status_code == 200
        assert len(response.json()["accounts"]) == 3
        assert_no_secret(response.text, rows)

    async def test_other_users_accounts_are_refused(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        linked: tuple[User, list[Account]],
    ) -> None:
        user, _rows = linked
        other = await create_user(db_session, email="someone-else@example.com")
        response = await client.get(f"{USERS}/{user.id}", headers=await bearer(db_session, other))
        assert response.status_code == 403
        assert response.json()["code"] == "YOU_ARE_NOT_ALLOWED_TO_GET_USER"

    async def test_user_without_accounts_has_an_empty_list(
        self, client: httpx.AsyncClient, db_session: AsyncSession, admin_headers: dict[str, str]
    ) -> None:
        user = await create_user(db_session, email="no-accounts@example.com")
        response = await client.get(f"{USERS}/{user.id}", headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["accounts"] == []

    async def test_list_and_me_leave_accounts_out(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        admin_headers: dict[str, str],
        linked: tuple[User, list[Account]],
    ) -> None:
        user, rows = linked
        page = await client.get(USERS, params={"search": "linked@"}, headers=admin_headers)
        assert page.status_code == 200
        assert [found["id"] for found in page.json()["users"]] == [user.id]
        assert "accounts" not in page.json()["users"][0]
        assert_no_secret(page.text, rows)
        me = await client.get(f"{USERS}/me", headers=await bearer(db_session, user))
        assert me.status_code == 200
        assert "accounts" not in me.json()


class TestUserAccountService:
    async def test_reads_user_and_accounts(
        self, db_session: AsyncSession, linked: tuple[User, list[Account]]
    ) -> None:
        user, _rows = linked
        found = await UserAccountService(db_session).get_user_with_accounts(user.id)
        assert found.user.id == user.id
        assert [a.provider_id for a in found.accounts] == ["credential", "github", "local-oidc"]

    async def test_unknown_user_is_not_found(self, db_session: AsyncSession) -> None:
        with pytest.raises(NotFound) as raised:
            await UserAccountService(db_session).get_user_with_accounts("nope")
        assert raised.value.code == "USER_NOT_FOUND"


def test_schemas_have_no_secret_field() -> None:
    assert set(LinkedAccountRead.model_json_schema(by_alias=True)["properties"]) == PUBLIC_FIELDS
    detail = set(UserDetail.model_json_schema(by_alias=True)["properties"])
    assert detail == set(UserRead.model_json_schema(by_alias=True)["properties"]) | {"accounts"}
