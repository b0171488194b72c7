"""API keys of @better-auth/api-key verified by the API: rows shaped as the plugin writes them,
the real migrations, real PostgreSQL (or SQLite), the real app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.models import User
from app.models.apikey import ApiKey
from app.services.apikeys.hashing import hash_api_key
from tests.conftest import AppFactory, build_test_app, make_settings
from tests.support.api_keys import create_api_key, new_key
from tests.support.factories import create_user

ME = "/api/v1/users/me"
USERS = "/api/v1/users"


async def reload(db: AsyncSession, key_id: str) -> ApiKey:
    row = (
        await db.execute(
            select(ApiKey).where(ApiKey.id == key_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row


@contextmanager
def counting_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def problem(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json")
    code: str = response.json()["code"]
    return code


class TestHashing:
    def test_default_key_hasher(self) -> None:
        # base64url(SHA-256("hello")) without padding, as @better-auth/utils computes it.
        assert hash_api_key("hello") == "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ"


class TestAuthentication:
    async def test_key_authenticates_as_its_owner(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key("bab_")
        await create_api_key(db_session, user, key)
        response = await client.get(ME, headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        assert response.json()["id"] == user.id

    async def test_header_name_is_configurable(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        app = await app_factory(api_key_header="x-service-key")
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(db_session, user, key)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get(ME, headers={"x-service-key": key})).status_code == 200
            response = await http.get(ME, headers={"x-api-key": key})
            assert response.status_code == 401
            assert problem(response) == "TOKEN_MISSING"

    @pytest.mark.parametrize("key", ["short", new_key(), "x" * 300])
    async def test_unknown_key(self, client: httpx.AsyncClient, key: str) -> None:
        response = await client.get(ME, headers={"x-api-key": key})
        assert response.status_code == 401
        assert problem(response) == "INVALID_API_KEY"
        assert key not in response.text

    async def test_disabled_key(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(db_session, user, key, enabled=False)
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (401, "KEY_DISABLED")

    async def test_expired_key(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(
            db_session, user, key, expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (401, "KEY_EXPIRED")

    async def test_banned_owner(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session, banned=True)
        key = new_key()
        await create_api_key(db_session, user, key)
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (403, "BANNED_USER")

    async def test_unknown_owner(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(db_session, user, key)
        row.reference_id = "no-such-user"
        await db_session.flush()
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (
            401,
            "INVALID_REFERENCE_ID_FROM_API_KEY",
        )

    async def test_key_wins_over_bearer(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(db_session, user, key)
        headers = {"x-api-key": key, "authorization": "Bearer not-a-token"}
        assert (await client.get(ME, headers=headers)).json()["id"] == user.id


class TestRemaining:
    async def test_decrements_then_refuses(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(db_session, user, key, remaining=2)
        for expected in (1, 0):
            assert (await client.get(ME, headers={"x-api-key": key})).status_code == 200
            assert (await reload(db_session, row.id)).remaining == expected
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (429, "USAGE_EXCEEDED")
        assert "retry-after" not in response.headers
        assert (await reload(db_session, row.id)).remaining == 0

    async def test_refill_when_interval_passed(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        row = await create_api_key(
            db_session,
            user,
            key,
            remaining=0,
            refill_amount=5,
            refill_interval=3_600_000,
            last_refill_at=long_ago,
        )
        assert (await client.get(ME, headers={"x-api-key": key})).status_code == 200
        fresh = await reload(db_session, row.id)
        assert fresh.remaining == 4
        assert fresh.last_refill_at is not None
        assert fresh.last_refill_at > long_ago

    async def test_no_refill_before_interval(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(
            db_session,
            user,
            key,
            remaining=0,
            refill_amount=5,
            refill_interval=3_600_000,
            last_refill_at=datetime.now(UTC) - timedelta(minutes=30),
        )
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (429, "USAGE_EXCEEDED")
        assert 1700 <= int(response.headers["retry-after"]) <= 1800


class TestRateLimit:
    async def test_window_full_then_429(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(
            db_session, user, key, rate_limit_max=2, rate_limit_time_window=60_000
        )
        for count in (1, 2):
            assert (await client.get(ME, headers={"x-api-key": key})).status_code == 200
            assert (await reload(db_session, row.id)).request_count == count
        response = await client.get(ME, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (429, "RATE_LIMITED")
        assert 1 <= int(response.headers["retry-after"]) <= 60

    async def test_window_resets(self, client: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(
            db_session,
            user,
            key,
            rate_limit_max=2,
            rate_limit_time_window=60_000,
            request_count=2,
            last_request=datetime.now(UTC) - timedelta(minutes=2),
        )
        assert (await client.get(ME, headers={"x-api-key": key})).status_code == 200
        assert (await reload(db_session, row.id)).request_count == 1

    async def test_rate_limit_disabled_on_key(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(
            db_session,
            user,
            key,
            rate_limit_enabled=False,
            rate_limit_max=1,
            request_count=5,
            last_request=datetime.now(UTC),
        )
        assert (await client.get(ME, headers={"x-api-key": key})).status_code == 200
        assert (await reload(db_session, row.id)).request_count == 5

    async def test_setting_turns_the_rate_limit_off_for_every_key(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        """``API_KEY_RATE_LIMIT_ENABLED=false``: the plugin's ``rateLimit.enabled: false``. A
        key whose window is full is served; its count stays, ``lastRequest`` moves, and its
        quota is still spent."""
        app = await app_factory(api_key_rate_limit_enabled=False)
        user = await create_user(db_session)
        key = new_key()
        earlier = datetime.now(UTC) - timedelta(seconds=5)
        row = await create_api_key(
            db_session,
            user,
            key,
            remaining=3,
            rate_limit_max=1,
            request_count=1,
            last_request=earlier,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            for _ in range(2):
                assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
        after = await reload(db_session, row.id)
        assert (after.request_count, after.remaining) == (1, 1)
        assert after.last_request is not None
        assert after.last_request > earlier
        assert make_settings("sqlite://").api_key_rate_limit_enabled is True  # the plugin's default

    async def test_rate_limited_request_spends_no_quota(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(
            db_session,
            user,
            key,
            remaining=10,
            rate_limit_max=1,
            request_count=1,
            last_request=datetime.now(UTC),
        )
        assert problem(await client.get(ME, headers={"x-api-key": key})) == "RATE_LIMITED"
        assert (await reload(db_session, row.id)).remaining == 10


class TestPermissions:
    """The key narrows its owner (tests/test_api_key_scope.py has the whole rule)."""

    async def test_key_without_permissions_acts_as_its_owner(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        key = new_key()
        await create_api_key(db_session, admin, key)
        assert (await client.get(USERS, headers={"x-api-key": key})).status_code == 200

    async def test_key_with_permission_its_owner_lacks(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session, role="user")
        key = new_key()
        await create_api_key(db_session, user, key, permissions=json.dumps({"user": ["list"]}))
        response = await client.get(USERS, headers={"x-api-key": key})
        assert (response.status_code, problem(response)) == (
            403,
            "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS",
        )

    async def test_scope_does_not_reach_the_owners_own_record(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        other = await create_user(db_session)
        key = new_key()
        await create_api_key(db_session, admin, key, permissions="{}")
        headers = {"x-api-key": key}
        assert (await client.get(f"{USERS}/{admin.id}", headers=headers)).status_code == 200
        assert (await client.get(f"{USERS}/{other.id}", headers=headers)).status_code == 403
        response = await client.delete(f"{USERS}/{other.id}/sessions", headers=headers)
        assert response.status_code == 403
        session = (await client.get("/api/v1/auth/session", headers=headers)).json()
        assert session["tokenType"] == "api_key"
        granted = (await client.get("/api/v1/auth/permissions", headers=headers)).json()
        assert granted["permissions"] == {"user": [], "session": []}


class TestCost:
    async def test_unknown_keys_cost_one_query_and_no_cache(
        self, app_factory: AppFactory, engine: AsyncEngine, db_session: AsyncSession
    ) -> None:
        app = await app_factory(identity_cache_enabled=True)
        state = app.state.services
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            with counting_queries(engine) as statements:
                for _ in range(20):
                    response = await http.get(ME, headers={"x-api-key": new_key()})
                    assert problem(response) == "INVALID_API_KEY"
        # The test's outer transaction adds one SAVEPOINT; each key costs one SELECT by the
        # indexed hash (apikey_key_idx) and nothing else.
        work = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]
        assert len(work) == 20, statements
        # (SQLite quotes "key", a keyword there.)
        assert all("WHERE apikey.key = " in " ".join(s.replace('"', "").split()) for s in work), (
            work[0]
        )
        assert len(state.api_key_cache) == 0

    async def test_cached_key_costs_one_update(
        self, app_factory: AppFactory, engine: AsyncEngine, db_session: AsyncSession
    ) -> None:
        app = await app_factory(identity_cache_enabled=True)
        user = await create_user(db_session)
        key = new_key()
        await create_api_key(db_session, user, key)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
            with counting_queries(engine) as statements:
                assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
        work = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]
        assert len(work) == 1, statements
        assert work[0].startswith("UPDATE apikey")

    async def test_disabled_in_database_is_refused_despite_cache(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        app = await app_factory(identity_cache_enabled=True)
        user = await create_user(db_session)
        key = new_key()
        row = await create_api_key(db_session, user, key)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
            await db_session.execute(
                update(ApiKey).where(ApiKey.id == row.id).values(enabled=False)
            )
            response = await http.get(ME, headers={"x-api-key": key})
            assert (response.status_code, problem(response)) == (401, "KEY_DISABLED")


class TestInvalidation:
    """Committed rows and the real feed (revision 0005's trigger on PostgreSQL)."""

    async def test_static_changes_notify_uses_do_not(
        self, engine: AsyncEngine, settings: Settings, dialect: str
    ) -> None:
        if dialect != "postgresql":
            pytest.skip("the NOTIFY feed is PostgreSQL's")
        app, state = build_test_app(
            make_settings(
                settings.database_url,
                identity_cache_enabled=True,
                identity_cache_fallback_ttl_seconds=60.0,
            ),
            engine,
        )
        state.start()
        assert state.listener is not None
        listener = state.listener
        await asyncio.wait_for(listener.connected.wait(), 10)
        async with AsyncSession(engine, expire_on_commit=False) as db:
            user = await create_user(db)
            key = new_key()
            row = await create_api_key(db, user, key)
            await db.commit()

        async def set_enabled(value: bool) -> None:
            before = listener.notices
            async with AsyncSession(engine) as db:
                await db.execute(update(ApiKey).where(ApiKey.id == row.id).values(enabled=value))
                await db.commit()
            async with asyncio.timeout(10):
                while listener.notices == before:  # noqa: ASYNC110 (the listener has no event per notice)
                    await asyncio.sleep(0.02)

        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                for _ in range(3):
                    assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
                # Uses write only counters: no notice, the cache keeps the key.
                assert listener.notices == 0
                assert len(state.api_key_cache) == 1
                await set_enabled(False)
                assert len(state.api_key_cache) == 0
                response = await http.get(ME, headers={"x-api-key": key})
                assert problem(response) == "KEY_DISABLED"
                # Re-enabled in the database: the notice evicts the cached "disabled" state
                # (without it the fallback TTL, 60 s here, would keep refusing).
                await set_enabled(True)
                assert (await http.get(ME, headers={"x-api-key": key})).status_code == 200
        finally:
            await state.aclose()
            async with AsyncSession(engine) as db:
                await db.execute(delete(ApiKey).where(ApiKey.id == row.id))
                await db.execute(delete(User).where(User.id == user.id))
                await db.commit()
