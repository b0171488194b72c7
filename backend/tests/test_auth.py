"""The authentication layer through the app: bearer JWTs, session tokens, cookies, roles, bans,
rate limits, and the /auth endpoints. Keys are real and served by a real local JWKS server."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuthSession, Jwks, User
from app.routers.deps import AdminUser, CurrentUser, require_role
from tests.conftest import TEST_AUTH_URL, TEST_SECRET, AppFactory, build_test_app, make_settings
from tests.support.factories import create_session, create_user, sign_session_token
from tests.support.jwks_server import JwksServer
from tests.support.keys import (
    TestKey,
    better_auth_claims,
    generate_key,
    jwks,
    sign_hmac,
    sign_token,
)
from tests.support.vectors import load_rows, load_tokens_file

ORIGIN = TEST_AUTH_URL


@pytest.fixture(scope="module")
def signing_key() -> TestKey:
    return generate_key("EdDSA")


@pytest.fixture(scope="module")
def rsa_key() -> TestKey:
    return generate_key("RS256")


@pytest.fixture(scope="module")
def jwks_server(signing_key: TestKey, rsa_key: TestKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(signing_key, rsa_key)) as server:
        yield server


@pytest.fixture
async def auth_app(app_factory: AppFactory, jwks_server: JwksServer) -> FastAPI:
    app = await app_factory(jwks_url=jwks_server.url, rate_limit_enabled=False)

    @app.get("/_probe/editor")
    async def editor_only(user: CurrentUser, _: Any = require_role_dep) -> dict[str, str]:
        return {"id": user.id}

    @app.get("/_probe/admin")
    async def admin_only(user: AdminUser) -> dict[str, str]:
        return {"id": user.id}

    return app


require_role_dep = __import__("fastapi").Depends(require_role("editor", "admin"))


@pytest.fixture
async def http(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=auth_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def token_for(key: TestKey, user: User, **overrides: Any) -> str:
    claims = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user.id, **overrides)
    return sign_token(key, claims)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


class TestBearerJwt:
    async def test_me_with_better_auth_shaped_token(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session, name="Ada")
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, user)))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {
            "id",
            "name",
            "email",
            "emailVerified",
            "image",
            "createdAt",
            "updatedAt",
            "role",
            "banned",
            "banReason",
            "banExpires",
        }
        assert body["id"] == user.id
        assert body["name"] == "Ada"
        assert body["createdAt"].endswith("Z")

    async def test_rsa_token(
        self, http: httpx.AsyncClient, db_session: AsyncSession, rsa_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(rsa_key, user)))
        assert response.status_code == 200

    async def test_session_endpoint_for_jwt(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session, role="admin,user")
        response = await http.get(
            "/api/v1/auth/session", headers=bearer(token_for(signing_key, user))
        )
        body = response.json()
        assert body["tokenType"] == "jwt"
        assert body["roles"] == ["admin", "user"]
        assert body["userId"] == user.id
        assert body["sessionId"] is None
        issued = datetime.fromisoformat(body["issuedAt"])
        expires = datetime.fromisoformat(body["expiresAt"])
        assert expires - issued == timedelta(seconds=900)

    async def test_database_decides_role_not_token(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session, role="user")
        token = token_for(signing_key, user, role="admin")
        response = await http.get("/_probe/admin", headers=bearer(token))
        assert response.status_code == 403
        assert response.json()["code"] == "INSUFFICIENT_ROLE"

    async def test_missing_credentials(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/auth/me")
        assert response.status_code == 401
        assert response.json()["code"] == "TOKEN_MISSING"
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token x"])
    async def test_malformed_authorization_header(
        self, http: httpx.AsyncClient, header: str
    ) -> None:
        response = await http.get("/api/v1/auth/me", headers={"Authorization": header})
        assert_unauthorized(response, "TOKEN_INVALID")

    async def test_expired(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        iat = int(time.time()) - 2000
        claims = better_auth_claims(ORIGIN, iat=iat, user_id=user.id)
        response = await http.get(
            "/api/v1/auth/me", headers=bearer(sign_token(signing_key, claims))
        )
        assert_unauthorized(response, "TOKEN_EXPIRED")
        assert "expired" in response.headers["www-authenticate"]

    async def test_wrong_audience_and_issuer(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        wrong_aud = token_for(signing_key, user, aud="https://other.example.com")
        wrong_iss = token_for(signing_key, user, iss="https://other.example.com")
        assert_unauthorized(
            await http.get("/api/v1/auth/me", headers=bearer(wrong_aud)), "TOKEN_AUDIENCE"
        )
        assert_unauthorized(
            await http.get("/api/v1/auth/me", headers=bearer(wrong_iss)), "TOKEN_ISSUER"
        )

    async def test_unknown_user(self, http: httpx.AsyncClient, signing_key: TestKey) -> None:
        ghost = User(id="ghost" * 6 + "xx", name="G", email="g@example.com")
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, ghost)))
        assert_unauthorized(response, "USER_NOT_FOUND")

    async def test_unknown_kid(self, http: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        stranger = generate_key("EdDSA")
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(stranger, user)))
        assert_unauthorized(response, "KEY_NOT_FOUND")

    async def test_token_is_never_echoed(
        self,
        http: httpx.AsyncClient,
        db_session: AsyncSession,
        signing_key: TestKey,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        user = await create_user(db_session)
        token = token_for(signing_key, user, aud="https://elsewhere.example.com")
        with caplog.at_level(logging.DEBUG):
            response = await http.get("/api/v1/auth/me", headers=bearer(token))
        assert token not in response.text
        assert token.split(".")[2] not in caplog.text
        assert token.split(".")[1] not in caplog.text


class TestBans:
    async def test_banned_user_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session, banned=True, ban_reason="spam")
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, user)))
        assert response.status_code == 403
        assert response.json()["code"] == "BANNED_USER"

    async def test_ban_with_future_expiry_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(
            db_session, banned=True, ban_expires=datetime.now(UTC) + timedelta(hours=1)
        )
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, user)))
        assert response.status_code == 403

    async def test_expired_ban_no_longer_blocks(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(
            db_session, banned=True, ban_expires=datetime.now(UTC) - timedelta(seconds=1)
        )
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, user)))
        assert response.status_code == 200
        assert response.json()["banned"] is True

    async def test_ban_bites_on_next_request(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        token = token_for(signing_key, user)
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        user.banned = True
        await db_session.flush()
        assert (await http.get("/api/v1/auth/me", headers=bearer(token))).status_code == 403


class TestSessionTokens:
    async def test_bare_bearer(self, http: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        response = await http.get("/api/v1/auth/session", headers=bearer(session.token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["tokenType"] == "session"
        assert body["sessionId"] == session.id

    async def test_signed_bearer(self, http: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        signed = sign_session_token(session.token, TEST_SECRET)
        response = await http.get("/api/v1/auth/me", headers=bearer(signed))
        assert response.status_code == 200
        assert response.json()["id"] == user.id

    async def test_forged_signature(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        forged = sign_session_token(session.token, "not-the-secret")
        assert_unauthorized(
            await http.get("/api/v1/auth/me", headers=bearer(forged)), "SESSION_INVALID"
        )

    @pytest.mark.parametrize("prefix", ["", "__Secure-"])
    async def test_signed_cookie(
        self, http: httpx.AsyncClient, db_session: AsyncSession, prefix: str
    ) -> None:
        from urllib.parse import quote

        user = await create_user(db_session)
        session = await create_session(db_session, user)
        value = quote(sign_session_token(session.token, TEST_SECRET), safe="")
        http.cookies.set(f"{prefix}better-auth.session_token", value)
        response = await http.get("/api/v1/auth/me")
        assert response.status_code == 200, response.text
        assert response.json()["id"] == user.id

    async def test_unsigned_cookie_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        http.cookies.set("better-auth.session_token", session.token)
        assert_unauthorized(await http.get("/api/v1/auth/me"), "SESSION_INVALID")

    async def test_expired_session(self, http: httpx.AsyncClient, db_session: AsyncSession) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user, expires_in=timedelta(seconds=-1))
        assert_unauthorized(
            await http.get("/api/v1/auth/me", headers=bearer(session.token)), "SESSION_EXPIRED"
        )

    async def test_revoked_session_is_refused_at_once(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        assert (await http.get("/api/v1/auth/me", headers=bearer(session.token))).status_code == 200
        await db_session.execute(delete(AuthSession).where(AuthSession.id == session.id))
        assert_unauthorized(
            await http.get("/api/v1/auth/me", headers=bearer(session.token)), "SESSION_INVALID"
        )

    async def test_session_of_banned_user(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session, banned=True)
        session = await create_session(db_session, user)
        response = await http.get("/api/v1/auth/me", headers=bearer(session.token))
        assert response.json()["code"] == "BANNED_USER"

    async def test_bearer_wins_over_cookie(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        alice = await create_user(db_session, name="Alice")
        bob = await create_user(db_session, name="Bob")
        bob_session = await create_session(db_session, bob)
        http.cookies.set(
            "better-auth.session_token", sign_session_token(bob_session.token, TEST_SECRET)
        )
        response = await http.get("/api/v1/auth/me", headers=bearer(token_for(signing_key, alice)))
        assert response.json()["id"] == alice.id

    async def test_better_auth_session_vector(
        self, app_factory: AppFactory, db_session: AsyncSession
    ) -> None:
        """A session token and cookie minted by a real Better-Auth server, with its secret."""
        vectors = load_tokens_file()
        rows = load_rows("sqlite")  # the run that minted the session vector
        user_row, session_row = rows["user"], rows["session"]
        user = User(
            id=user_row["id"],
            name=user_row["name"],
            email=user_row["email"],
            email_verified=bool(user_row["emailVerified"]),
            role=user_row["role"],
            banned=False,
        )
        db_session.add(user)
        await db_session.flush()
        db_session.add(
            AuthSession(
                id=session_row["id"],
                token=session_row["token"],
                user_id=user.id,
                expires_at=datetime.now(UTC) + timedelta(days=1),
            )
        )
        await db_session.flush()
        app = await app_factory(better_auth_secret=vectors["secret"], rate_limit_enabled=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            signed = await client.get(
                "/api/v1/auth/me", headers=bearer(vectors["session"]["bearer_signed"])
            )
            client.cookies.set(
                vectors["session"]["cookie_name"], vectors["session"]["cookie_value"]
            )
            cookie = await client.get("/api/v1/auth/me")
        assert signed.status_code == 200, signed.text
        assert cookie.status_code == 200, cookie.text
        assert signed.json()["id"] == cookie.json()["id"] == user.id


class TestRoles:
    async def test_require_role_with_comma_joined_roles(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        admin = await create_user(db_session, role="admin,user")
        editor = await create_user(db_session, role="user,editor")
        plain = await create_user(db_session, role="user")
        spaced = await create_user(db_session, role="user, editor")
        for user, status in ((admin, 200), (editor, 200), (plain, 403), (spaced, 403)):
            response = await http.get(
                "/_probe/editor", headers=bearer(token_for(signing_key, user))
            )
            assert response.status_code == status, (user.role, response.text)
        plain_response = await http.get(
            "/_probe/editor", headers=bearer(token_for(signing_key, plain))
        )
        assert plain_response.json()["code"] == "INSUFFICIENT_ROLE"

    async def test_admin_user_alias(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        admin = await create_user(db_session, role="user,admin")
        nobody = await create_user(db_session, role=None)
        ok = await http.get("/_probe/admin", headers=bearer(token_for(signing_key, admin)))
        refused = await http.get("/_probe/admin", headers=bearer(token_for(signing_key, nobody)))
        assert ok.status_code == 200
        assert refused.status_code == 403

    def test_require_role_needs_roles(self) -> None:
        with pytest.raises(ValueError):
            require_role()


class TestVerifyEndpoint:
    async def test_active_jwt(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        response = await http.post(
            "/api/v1/auth/verify", json={"token": token_for(signing_key, user)}
        )
        body = response.json()
        assert body["active"] is True
        assert body["sub"] == user.id
        assert body["iss"] == ORIGIN
        assert body["aud"] == ORIGIN
        assert body["tokenType"] == "jwt"
        assert body["exp"] - body["iat"] == 900

    async def test_active_session_token(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await create_user(db_session)
        session = await create_session(db_session, user)
        body = (await http.post("/api/v1/auth/verify", json={"token": session.token})).json()
        assert body["active"] is True
        assert body["sessionId"] == session.id

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 20000, "eyJ.eyJ.", "🙂"])
    async def test_inactive(self, http: httpx.AsyncClient, token: str) -> None:
        response = await http.post("/api/v1/auth/verify", json={"token": token})
        assert response.status_code == 200
        body = response.json()
        assert body["active"] is False
        assert set(body) == {"active", "code"}

    async def test_banned_is_inactive(
        self, http: httpx.AsyncClient, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session, banned=True)
        body = (
            await http.post("/api/v1/auth/verify", json={"token": token_for(signing_key, user)})
        ).json()
        assert body == {"active": False, "code": "BANNED_USER"}

    async def test_missing_token_is_422(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/api/v1/auth/verify", json={})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "token"]


class TestKeySources:
    async def test_database_key_source(self, engine: AsyncEngine) -> None:
        """Keys read from Better-Auth's jwks table. Everything is committed (the key source has
        its own session), so this test uses the real session factory and cleans up after."""
        import json

        key = generate_key("EdDSA")
        row_public = {k: v for k, v in key.public_jwk().items() if k not in {"kid", "alg"}}
        async with AsyncSession(engine, expire_on_commit=False) as writer:
            writer.add(
                Jwks(
                    id=key.kid,
                    public_key=json.dumps(row_public),
                    private_key="enc",
                    alg="EdDSA",
                    crv="Ed25519",
                )
            )
            writer.add(Jwks(id="broken-row", public_key="not json", private_key="enc"))
            user = await create_user(writer)
            await writer.commit()
        settings = make_settings(
            str(engine.url.render_as_string(hide_password=False)),
            jwks_source="database",
            rate_limit_enabled=False,
        )
        app, state = build_test_app(settings, engine)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                response = await client.get("/api/v1/auth/me", headers=bearer(token_for(key, user)))
                ready = await client.get("/health/ready")
        finally:
            await state.key_cache.aclose()
            await state.http_client.aclose()
            async with AsyncSession(engine, expire_on_commit=False) as writer:
                await writer.execute(delete(Jwks).where(Jwks.id.in_([key.kid, "broken-row"])))
                await writer.execute(delete(User).where(User.id == user.id))
                await writer.commit()
        assert response.status_code == 200, response.text
        assert ready.json()["checks"]["keys"]["status"] == "ok"

    async def test_database_rows_without_alg_infer_it(self, engine: AsyncEngine) -> None:
        """Better-Auth 1.6 leaves ``jwks.alg`` and ``crv`` NULL: a PS256 key (RSA) must still
        verify its tokens, as must EdDSA and ES256 keys, and no key verifies another type's
        algorithm or an HMAC made with its public key."""
        import json

        rsa = generate_key("PS256")
        signers = [rsa, generate_key("EdDSA"), generate_key("ES256")]
        async with AsyncSession(engine, expire_on_commit=False) as writer:
            for key in signers:
                public = key.public_jwk(with_alg=False, with_kid=False)
                writer.add(
                    Jwks(id=key.kid, public_key=json.dumps(public), private_key="enc", alg=None)
                )
            user = await create_user(writer)
            await writer.commit()
        settings = make_settings(
            str(engine.url.render_as_string(hide_password=False)),
            jwks_source="database",
            rate_limit_enabled=False,
        )
        app, state = build_test_app(settings, engine)
        claims = better_auth_claims(ORIGIN, iat=int(time.time()), user_id=user.id)
        confused = [
            sign_token(rsa, claims, alg="ES256"),
            sign_token(signers[1], claims, alg="RS256"),
            sign_token(signers[2], claims, alg="ES512"),
            sign_hmac(
                json.dumps(rsa.public_jwk(with_alg=False, with_kid=False)).encode(),
                claims,
                {"kid": rsa.kid},
            ),
        ]
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                accepted = [
                    await client.get("/api/v1/auth/me", headers=bearer(sign_token(key, claims)))
                    for key in signers
                ]
                refused = [
                    await client.get("/api/v1/auth/me", headers=bearer(token)) for token in confused
                ]
        finally:
            await state.key_cache.aclose()
            await state.http_client.aclose()
            async with AsyncSession(engine, expire_on_commit=False) as writer:
                await writer.execute(delete(Jwks).where(Jwks.id.in_([k.kid for k in signers])))
                await writer.execute(delete(User).where(User.id == user.id))
                await writer.commit()
        assert [r.status_code for r in accepted] == [200, 200, 200], accepted[0].text
        for response in refused:
            assert_unauthorized(response, "TOKEN_INVALID")

    async def test_key_source_down_is_503_not_401(
        self, app_factory: AppFactory, db_session: AsyncSession, signing_key: TestKey
    ) -> None:
        user = await create_user(db_session)
        app = await app_factory(jwks_url="http://127.0.0.1:1/api/auth/jwks")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(
                "/api/v1/auth/me", headers=bearer(token_for(signing_key, user))
            )
            ready = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["code"] == "KEY_SOURCE_UNAVAILABLE"
        assert int(response.headers["retry-after"]) >= 1
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["keys"]["status"] == "unavailable"


class TestRateLimits:
    async def _hammer(self, app: FastAPI, count: int, headers: dict[str, str]) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                (await client.get("/api/v1/auth/me", headers=headers)).status_code
                for _ in range(count)
            ]

    async def test_per_ip_memory(self, app_factory: AppFactory) -> None:
        app = await app_factory(rate_limit_per_ip="3/minute")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            statuses = [(await client.get("/api/v1/auth/me")).status_code for _ in range(4)]
            limited = await client.get("/api/v1/auth/me")
        assert statuses == [401, 401, 401, 429]
        assert limited.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["content-type"] == "application/problem+json"

    async def test_per_user(
        self,
        app_factory: AppFactory,
        db_session: AsyncSession,
        jwks_server: JwksServer,
        signing_key: TestKey,
    ) -> None:
        user = await create_user(db_session)
        app = await app_factory(
            jwks_url=jwks_server.url, rate_limit_per_ip="100/minute", rate_limit_per_user="2/minute"
        )
        statuses = await self._hammer(app, 3, bearer(token_for(signing_key, user)))
        assert statuses == [200, 200, 429]

    async def test_redis_shares_the_budget_between_replicas(self, app_factory: AppFactory) -> None:
        # The machine's Redis; TEST_REDIS_URL elsewhere (the compose dev profile's tests service).
        redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        first = await app_factory(rate_limit_per_ip="3/minute", redis_url=redis_url)
        second = await app_factory(rate_limit_per_ip="3/minute", redis_url=redis_url)
        await first.state.services.rate_limiter.reset()
        statuses = await self._hammer(first, 2, {}) + await self._hammer(second, 2, {})
        await first.state.services.rate_limiter.reset()
        assert statuses == [401, 401, 401, 429]

    async def test_redis_down_fails_open(
        self, app_factory: AppFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = await app_factory(rate_limit_per_ip="1/minute", redis_url="redis://127.0.0.1:1/0")
        with caplog.at_level(logging.WARNING):
            statuses = await self._hammer(app, 3, {})
        assert statuses == [401, 401, 401]
        warnings = [r for r in caplog.records if "failing open" in r.getMessage()]
        assert len(warnings) == 1

    async def test_health_is_not_rate_limited(self, app_factory: AppFactory) -> None:
        app = await app_factory(rate_limit_per_ip="1/minute")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            statuses = [(await client.get("/health/live")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
