"""Database round trips of the hot reads, counted on the wire (PostgreSQL).

The admin search and an authentication that misses the identity cache each cost one round trip
in the common case: no BEGIN/COMMIT around a single read, no ping on a busy connection, the
page's total in the page query.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.database import create_engine, run_connection_read
from app.models import User
from app.services.auth.snapshots import UserSnapshot
from app.services.users.accounts import UserAccountService, UserWithAccounts
from app.services.users.query import UserListQuery, read_page
from app.services.users.service import UserService
from app.state import AppState, build_app_state
from tests.conftest import make_settings
from tests.support.factories import create_user
from tests.support.round_trips import RoundTripCounter


@pytest.fixture
async def counted(
    settings: Settings, dialect: str
) -> AsyncIterator[tuple[AsyncEngine, RoundTripCounter]]:
    if dialect != "postgresql":
        pytest.skip("PostgreSQL's wire protocol")
    url = make_url(settings.database_url)
    counter = RoundTripCounter(url.host or "127.0.0.1", url.port or 5432)
    await counter.start()
    proxied = url.set(host="127.0.0.1", port=counter.port).update_query_dict({"ssl": "disable"})
    engine = create_engine(make_settings(proxied.render_as_string(hide_password=False)))
    try:
        yield engine, counter
    finally:
        await engine.dispose()
        await counter.stop()


@pytest.fixture
async def people(engine: AsyncEngine) -> AsyncIterator[tuple[str, list[User]]]:
    """Committed users whose e-mails share a marker no other row has."""
    marker = f"rt{secrets.token_hex(4)}"
    async with AsyncSession(engine, expire_on_commit=False) as db:
        users = [await create_user(db, email=f"{marker}.{n}@example.com") for n in range(3)]
        await db.commit()
    try:
        yield marker, users
    finally:
        async with AsyncSession(engine) as db:
            await db.execute(delete(User).where(User.id.in_([user.id for user in users])))
            await db.commit()


async def search(engine: AsyncEngine, query: UserListQuery) -> tuple[list[str], int]:
    async with AsyncSession(engine, expire_on_commit=False) as db:
        users, total = await UserService(db, admin_roles=["admin"], known_roles=[]).list_users(
            query
        )
    return [user.email for user in users], total


async def test_admin_search_is_one_round_trip(
    counted: tuple[AsyncEngine, RoundTripCounter], people: tuple[str, list[User]]
) -> None:
    engine, counter = counted
    marker, _users = people
    query = UserListQuery(search=marker, limit=2)
    await search(engine, query)  # the first use prepares the statement
    counter.count = 0
    emails, total = await search(engine, query)
    assert counter.count == 1
    assert total == 3
    assert emails == sorted(emails)
    assert len(emails) == 2


async def test_a_page_past_the_end_still_knows_its_total(
    counted: tuple[AsyncEngine, RoundTripCounter], people: tuple[str, list[User]]
) -> None:
    engine, _counter = counted
    marker, _users = people
    emails, total = await search(engine, UserListQuery(search=marker, offset=5))
    assert (emails, total) == ([], 3)  # the window had no row: a count query answers


@pytest.fixture
async def state(
    counted: tuple[AsyncEngine, RoundTripCounter], settings: Settings
) -> AsyncIterator[AppState]:
    """The app's services over the counted engine."""
    built = build_app_state(settings, counted[0])
    try:
        yield built
    finally:
        await built.key_cache.aclose()
        await built.http_client.aclose()


async def test_identity_read_is_one_round_trip(
    counted: tuple[AsyncEngine, RoundTripCounter], people: tuple[str, list[User]], state: AppState
) -> None:
    """A user read on an identity-cache miss (caches off here: every call reads)."""
    _engine, counter = counted
    _marker, users = people
    identity = state.identity_service(state.sessionmaker)
    await identity.load_active_user(users[0].id)
    counter.count = 0
    user = await identity.load_active_user(users[1].id)
    assert user.id == users[1].id
    assert counter.count == 1


async def test_fast_path_search_is_one_round_trip(
    counted: tuple[AsyncEngine, RoundTripCounter], people: tuple[str, list[User]], state: AppState
) -> None:
    """The admin list's fast path: a pooled connection in autocommit, no ORM session."""
    _engine, counter = counted
    marker, _users = people
    query = UserListQuery(search=marker, limit=2)

    async def read() -> tuple[list[UserSnapshot], int]:
        return await run_connection_read(
            state.side_connection, lambda connection: read_page(connection, query)
        )

    await read()  # the first use prepares the statement
    counter.count = 0
    users, total = await read()
    assert counter.count == 1
    assert (len(users), total) == (2, 3)


async def test_user_with_linked_accounts_is_one_round_trip(
    counted: tuple[AsyncEngine, RoundTripCounter], people: tuple[str, list[User]]
) -> None:
    """``GET /users/{userId}``: the user and their accounts in one statement, no BEGIN/COMMIT."""
    engine, counter = counted
    _marker, users = people

    async def read(user_id: str) -> UserWithAccounts:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            return await UserAccountService(db).get_user_with_accounts(user_id)

    await read(users[0].id)  # the first use prepares the statement
    counter.count = 0
    found = await read(users[1].id)
    assert (found.user.id, found.accounts) == (users[1].id, [])
    assert counter.count == 1
