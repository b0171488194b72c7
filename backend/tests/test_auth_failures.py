"""Issue 22: the failed-authentication limiter stops guessing without locking out the guesser's
neighbours, and ``POST /auth/verify`` is no oracle outside it.

Both sides are measured from one address (a NAT or proxy): the guesser's random credentials get
429 with ``Retry-After`` once over the budget, while users behind the same address whose
credential this process already verified (token cache, session cache, API key cache) still get
200, through the routed endpoints and through the FastPaths layer alike. Real keys and a real
JWKS server, real sessions and API key rows on the test database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.auth.jose.ecdsa import canonical_ecdsa_token
from tests.conftest import TEST_AUTH_URL, TEST_SECRET, AppFactory
from tests.support.factories import create_session, create_user, sign_session_token
from tests.support.jwks_server import JwksServer
from tests.support.keys import TestKey, better_auth_claims, generate_key, jwks, sign_token
from tests.test_api_keys import create_api_key, new_key
from tests.unit.test_claims_policy import high_s_twin

NAT = "203.0.113.9"
BUDGET = 5
COOKIE = "better-auth.session_token"
ME_ROUTED = "/api/v1/auth/me"
ME_FAST = "/api/v1/users/me"  # answered by FastPaths, before routing
VERIFY = "/api/v1/auth/verify"


@pytest.fixture(scope="module")
def signing_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def ecdsa_key() -> TestKey:
    return generate_key("ES256")


@pytest.fixture(scope="module")
def jwks_server(signing_key: TestKey, ecdsa_key: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(signing_key, ecdsa_key)) as server:
        yield server


@pytest.fixture
async def app(app_factory: AppFactory, jwks_server: JwksServer) -> FastAPI:
    return await app_factory(
        jwks_url=jwks_server.url,
        rate_limit_auth_failures_per_ip=f"{BUDGET}/minute",
        rate_limit_per_ip="10000/minute",
        rate_limit_per_user="10000/minute",
        # The session cache is what vouches for a session token; without the feed (no
        # lifespan here) its entries live for the fallback TTL: long enough for the test.
        identity_cache_enabled=True,
        identity_cache_fallback_ttl_seconds=300,
    )


@pytest.fixture
async def nat(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Every client of the test shares this address."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(NAT, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def exhaust_the_budget(nat: httpx.AsyncClient) -> httpx.Response:
    """The guesser: random bearer values until refused."""
    statuses = []
    for attempt in range(BUDGET + 3):
        response = await nat.get(ME_ROUTED, headers=bearer(f"guess{attempt:027d}"))
        statuses.append(response.status_code)
    assert statuses[: BUDGET + 1] == [401] * (BUDGET + 1)
    assert response.status_code == 429
    return response


def assert_blocked(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "AUTH_FAILURES_RATE_LIMITED"
    assert int(response.headers["retry-after"]) >= 1


class TestBlockedAddress:
    async def test_the_guesser_is_refused_and_verified_neighbours_are_not(
        self,
        nat: httpx.AsyncClient,
        db_session: AsyncSession,
        signing_key: TestKey,
    ) -> None:
        jwt_user = await create_user(db_session)
        claims = better_auth_claims(TEST_AUTH_URL, iat=int(time.time()), user_id=jwt_user.id)
        jwt = sign_token(signing_key, claims)
        session = await create_session(db_session, await create_user(db_session))
        cookie_session = await create_session(db_session, await create_user(db_session))
        cookie = quote(sign_session_token(cookie_session.token, TEST_SECRET), safe="")
        api_key = new_key()
        await create_api_key(db_session, await create_user(db_session), api_key)
        unseen = await create_session(db_session, await create_user(db_session))

        # Each neighbour signs in once before the guessing starts: now verified and cached.
        for headers in (bearer(jwt), bearer(session.token), {"x-api-key": api_key}):
            assert (await nat.get(ME_ROUTED, headers=headers)).status_code == 200
        assert (
            await nat.get(ME_ROUTED, headers={"Cookie": f"{COOKIE}={cookie}"})
        ).status_code == 200

        assert_blocked(await exhaust_the_budget(nat))
        assert_blocked(await nat.get(ME_FAST, headers=bearer("guess" + "x" * 27)))
        assert_blocked(await nat.post(VERIFY, json={"token": "guess" + "y" * 27}))

        # The neighbours: routed, fast path, cookie, API key, and introspection.
        for path in (ME_ROUTED, ME_FAST):
            for headers in (bearer(jwt), bearer(session.token)):
                response = await nat.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text)
        assert (await nat.get(ME_FAST, headers={"x-api-key": api_key})).status_code == 200
        assert (
            await nat.get(ME_ROUTED, headers={"Cookie": f"{COOKIE}={cookie}"})
        ).status_code == 200
        introspected = await nat.post(VERIFY, json={"token": jwt})
        assert introspected.status_code == 200
        assert introspected.json()["active"] is True

        # A credential this process has never verified waits out the block like the guesser:
        # telling it from a guess would take the database read the block exists to spare.
        assert_blocked(await nat.get(ME_ROUTED, headers=bearer(unseen.token)))
        assert_blocked(await nat.get(ME_FAST, headers=bearer(unseen.token)))

    async def test_either_spelling_of_a_verified_ecdsa_token_passes(
        self, nat: httpx.AsyncClient, db_session: AsyncSession, ecdsa_key: TestKey
    ) -> None:
        """An ES256 signature has two valid spellings, cached as one entry (the low-s one)."""
        user = await create_user(db_session)
        claims = better_auth_claims(TEST_AUTH_URL, iat=int(time.time()), user_id=user.id)
        low = canonical_ecdsa_token(sign_token(ecdsa_key, claims), "ES256")
        high = high_s_twin(low, "ES256")
        assert (await nat.get(ME_ROUTED, headers=bearer(low))).status_code == 200
        await exhaust_the_budget(nat)
        for spelling in (low, high):
            for path in (ME_ROUTED, ME_FAST):
                response = await nat.get(path, headers=bearer(spelling))
                assert response.status_code == 200, (path, response.text)

    async def test_a_blocked_address_with_a_malformed_header_is_still_refused(
        self, nat: httpx.AsyncClient
    ) -> None:
        await exhaust_the_budget(nat)
        assert_blocked(await nat.get(ME_ROUTED, headers={"Authorization": "Basic abc"}))
        assert_blocked(await nat.get(ME_ROUTED, headers={"Cookie": f"{COOKIE}=junk"}))


class TestIntrospectionCountsFailures:
    async def test_inactive_tokens_use_up_the_budget(
        self, nat: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        """Before: any number of guesses through /auth/verify, each answered, none counted."""
        for attempt in range(BUDGET + 1):
            response = await nat.post(VERIFY, json={"token": f"guess{attempt:027d}"})
            assert response.status_code == 200
            assert response.json() == {"active": False, "code": "SESSION_INVALID"}
        assert_blocked(await nat.post(VERIFY, json={"token": "guess" + "z" * 27}))
        # The block is the address's, whichever route counted the failures.
        unseen = await create_session(db_session, await create_user(db_session))
        assert_blocked(await nat.get(ME_ROUTED, headers=bearer(unseen.token)))

    async def test_a_banned_users_token_is_not_a_failure(
        self, nat: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        banned = await create_session(db_session, await create_user(db_session, banned=True))
        for _ in range(BUDGET + 2):
            response = await nat.post(VERIFY, json={"token": banned.token})
            assert response.json() == {"active": False, "code": "BANNED_USER"}
