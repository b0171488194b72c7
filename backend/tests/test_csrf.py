"""Issue 17.1: CSRF. A request authenticated by Better-Auth's session cookie with an unsafe method
is refused unless its Origin (else Referer) is trusted, as Better-Auth's own origin check does.
Real signed cookies, real sessions on the test database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import User
from app.utils.errors import Forbidden
from app.utils.origins import matches_origin_pattern
from tests.conftest import TEST_AUTH_URL, TEST_SECRET, AppFactory
from tests.support.factories import create_session, create_user, sign_session_token

COOKIE = "better-auth.session_token"
FRONTEND = "https://app.example.com"
EVIL = "https://evil.example.net"


@pytest.fixture
async def csrf_app(app_factory: AppFactory) -> FastAPI:
    return await app_factory(
        cors_origins=[FRONTEND],
        trusted_origins=["https://*.preview.example.org", "myapp://"],
        rate_limit_enabled=False,
    )


@pytest.fixture
async def http(csrf_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=csrf_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def admin_cookie(db: AsyncSession) -> str:
    admin = await create_user(db, role="admin")
    session = await create_session(db, admin)
    return quote(sign_session_token(session.token, TEST_SECRET), safe="")


async def banned_user(db: AsyncSession) -> User:
    return await create_user(db, banned=True, ban_reason="spam")


async def is_banned(db: AsyncSession, user: User) -> bool:
    await db.refresh(user)
    return bool(user.banned)


class TestCookieWrites:
    async def test_foreign_form_post_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        """The issue's case: a foreign page posts a form to unban someone, the admin's browser
        attaches the cookie. Before the fix this answered 200 and unbanned the user."""
        http.cookies.set(COOKIE, await admin_cookie(db_session))
        target = await banned_user(db_session)
        response = await http.post(
            f"/api/v1/users/{target.id}/unban",
            data={"anything": "x"},
            headers={"Origin": EVIL},
        )
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "INVALID_ORIGIN"
        assert await is_banned(db_session, target)

    @pytest.mark.parametrize(
        "origin",
        [
            TEST_AUTH_URL,  # Better-Auth's own origin
            FRONTEND,  # CORS_ORIGINS
            "https://pr-12.preview.example.org",  # TRUSTED_ORIGINS wildcard
            "myapp://callback",  # TRUSTED_ORIGINS custom scheme
        ],
    )
    async def test_trusted_origins_pass(
        self, http: httpx.AsyncClient, db_session: AsyncSession, origin: str
    ) -> None:
        http.cookies.set(COOKIE, await admin_cookie(db_session))
        target = await banned_user(db_session)
        response = await http.post(f"/api/v1/users/{target.id}/unban", headers={"Origin": origin})
        assert response.status_code == 200, response.text
        assert not await is_banned(db_session, target)

    async def test_referer_when_no_origin(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        http.cookies.set(COOKIE, await admin_cookie(db_session))
        target = await banned_user(db_session)
        refused = await http.post(
            f"/api/v1/users/{target.id}/unban", headers={"Referer": f"{EVIL}/page?x=1"}
        )
        assert refused.json()["code"] == "INVALID_ORIGIN"
        allowed = await http.post(
            f"/api/v1/users/{target.id}/unban", headers={"Referer": f"{FRONTEND}/admin/users"}
        )
        assert allowed.status_code == 200, allowed.text

    @pytest.mark.parametrize("headers", [{}, {"Origin": "null"}])
    async def test_missing_or_null_origin_is_refused(
        self, http: httpx.AsyncClient, db_session: AsyncSession, headers: dict[str, str]
    ) -> None:
        http.cookies.set(COOKIE, await admin_cookie(db_session))
        target = await banned_user(db_session)
        response = await http.post(f"/api/v1/users/{target.id}/unban", headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "MISSING_OR_NULL_ORIGIN"
        assert await is_banned(db_session, target)

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("PATCH", "/api/v1/users/me"),
            ("DELETE", "/api/v1/users/{me}/sessions"),
            ("PUT", "/api/v1/users/{me}/role"),
        ],
    )
    async def test_every_unsafe_method(
        self, http: httpx.AsyncClient, db_session: AsyncSession, method: str, path: str
    ) -> None:
        admin = await create_user(db_session, role="admin")
        session = await create_session(db_session, admin)
        http.cookies.set(COOKIE, quote(sign_session_token(session.token, TEST_SECRET), safe=""))
        response = await http.request(
            method, path.format(me=admin.id), json={"name": "x"}, headers={"Origin": EVIL}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "INVALID_ORIGIN"

    async def test_safe_methods_are_not_checked(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        http.cookies.set(COOKIE, await admin_cookie(db_session))
        response = await http.get("/api/v1/auth/me", headers={"Origin": EVIL})
        assert response.status_code == 200

    async def test_bearer_requests_are_not_affected(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await create_user(db_session, role="admin")
        session = await create_session(db_session, admin)
        target = await banned_user(db_session)
        response = await http.post(
            f"/api/v1/users/{target.id}/unban",
            headers={"Origin": EVIL, "Authorization": f"Bearer {session.token}"},
        )
        assert response.status_code == 200, response.text

    async def test_refused_before_the_session_is_looked_up(
        self, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        """A forged cookie from a foreign origin gets the CSRF answer, not a session lookup."""
        http.cookies.set(COOKIE, quote(sign_session_token("x" * 32, TEST_SECRET), safe=""))
        response = await http.post("/api/v1/users/u/unban", headers={"Origin": EVIL})
        assert response.json()["code"] == "INVALID_ORIGIN"


class TestOneSixLine:
    """``BETTER_AUTH_LINE=1.6``: the app refuses a cookie write from an origin Better-Auth 1.6
    refuses, though 1.7 would trust it (its answers: tests/unit/test_origin_matching.py)."""

    @pytest.mark.parametrize(("line", "status"), [("1.7", 200), ("1.6", 403)])
    async def test_a_custom_scheme_in_capitals(
        self, app_factory: AppFactory, db_session: AsyncSession, line: str, status: int
    ) -> None:
        app = await app_factory(
            trusted_origins=["myapp://"], better_auth_line=line, rate_limit_enabled=False
        )
        target = await banned_user(db_session)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            http.cookies.set(COOKIE, await admin_cookie(db_session))
            response = await http.post(
                f"/api/v1/users/{target.id}/unban", headers={"Origin": "MYAPP://Callback"}
            )
        assert response.status_code == status, response.text
        if status == 403:
            assert response.json()["code"] == "INVALID_ORIGIN"
            assert await is_banned(db_session, target)


class TestHostileOrigin:
    """Issue 22: an unauthenticated POST with a junk cookie and a long Origin made the old matcher
    backtrack: 2 s of event loop at 8,000 labels with two wildcards (the review's measurement),
    and with three 10 s at 1,000 labels, growing with the cube of the length. Now linear, and a
    value over 4,096 characters is refused unparsed."""

    # Far above what the linear matcher needs (milliseconds), far below what backtracking took.
    GENEROUS_SECONDS = 2.0

    @staticmethod
    async def hostile(app_factory: AppFactory, pattern: str) -> httpx.AsyncClient:
        app = await app_factory(trusted_origins=[pattern], rate_limit_enabled=False)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        client.cookies.set(COOKIE, "junk")
        return client

    @pytest.mark.parametrize(
        ("pattern", "labels"),
        [
            ("https://*.*.*.example.com", 1_500),  # 3,009 characters, under the bound
            ("https://*.*.example.com", 8_000),  # 16,009 characters, over it
        ],
    )
    async def test_many_labels_answer_at_once(
        self, app_factory: AppFactory, pattern: str, labels: int
    ) -> None:
        origin = "https://" + "a." * labels + "x"
        async with await self.hostile(app_factory, pattern) as client:
            started = time.perf_counter()
            response = await client.post("/api/v1/users/u/unban", headers={"Origin": origin})
            elapsed = time.perf_counter() - started
        assert response.status_code == 403
        assert response.json()["code"] == "INVALID_ORIGIN"
        assert elapsed < self.GENEROUS_SECONDS

    async def test_a_matching_origin_still_passes_the_check(self, app_factory: AppFactory) -> None:
        # The junk cookie then fails as a session, after the origin check let it through.
        async with await self.hostile(app_factory, "https://*.*.*.example.com") as client:
            response = await client.post(
                "/api/v1/users/u/unban", headers={"Origin": "https://a.b.c.example.com"}
            )
        assert response.status_code == 401
        assert response.json()["code"] == "SESSION_INVALID"


class TestOriginMatching:
    """Better-Auth's matchesOriginPattern, case by case (auth/trusted-origins.ts)."""

    @pytest.mark.parametrize(
        ("url", "pattern", "expected"),
        [
            ("https://app.example.com", "https://app.example.com", True),
            ("https://APP.example.com:443/path?q", "https://app.example.com", True),
            ("https://app.example.com:8443", "https://app.example.com", False),
            ("http://app.example.com", "https://app.example.com", False),
            ("https://app.example.com.evil.net", "https://app.example.com", False),
            ("https://evil.net/https://app.example.com", "https://app.example.com", False),
            ("/relative", "https://app.example.com", False),
            ("app.example.com", "app.example.com", False),
            # protocol wildcard patterns match the whole origin
            ("https://a.example.com", "https://*.example.com", True),
            ("https://a.b.example.com", "https://*.example.com", True),
            ("http://a.example.com", "https://*.example.com", False),
            ("https://example.com", "https://*.example.com", False),
            ("https://a.example.com.evil.net", "https://*.example.com", False),
            # host-only wildcards match the host
            ("https://a.example.com", "*.example.com", True),
            ("http://a.example.com", "*.example.com", True),
            ("https://example.org", "*.example.com", False),
            ("https://preview-1.example.com", "preview-?.example.com", True),
            ("https://preview-12.example.com", "preview-?.example.com", False),
            # custom schemes
            ("myapp://anything/here", "myapp://", True),
            ("exp://192.168.1.5:8081", "exp://192.168.1.5:8081", True),
            ("myapp://callback.attacker.tld", "myapp://callback", False),
            ("myapp://host/cb/../evil", "myapp://host/cb", False),
            ("myapp://host/cb/next", "myapp://host/cb", True),
            ("otherapp://x", "myapp://", False),
        ],
    )
    def test_pattern(self, url: str, pattern: str, expected: bool) -> None:
        assert matches_origin_pattern(url, pattern) is expected

    def test_policy_from_settings(self) -> None:
        from app.state import build_origin_policy

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            better_auth_url="https://Auth.Example.com:443/api/auth",
            cors_origins="https://app.example.com",
            trusted_origins="https://*.vercel.app, myapp://",
        )
        policy = build_origin_policy(settings)
        assert policy.patterns == (
            "https://auth.example.com",
            "https://app.example.com",
            "https://*.vercel.app",
            "myapp://",
        )
        for origin in ("https://auth.example.com", "https://x.vercel.app", "myapp://cb"):
            policy.check("POST", {"origin": origin})
        with pytest.raises(Forbidden) as error:
            policy.check("DELETE", {"origin": "https://vercel.app.evil.net"})
        assert error.value.code == "INVALID_ORIGIN"
        policy.check("GET", {"origin": "https://evil.net"})
        policy.check("OPTIONS", {})
