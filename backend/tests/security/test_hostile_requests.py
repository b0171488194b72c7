"""Hostile requests (not just hostile tokens) against ``GET /api/v1/auth/me``, over HTTP.

The same contract as the token corpus: each row is ``(name, request builder, expected status,
expected code)``, answered as problem+json, never a 500, never echoing the credential. Headers
are built as raw bytes, so control characters, non-latin-1 bytes and repeated fields reach the
app exactly as written (``test_http_server`` checks what a real HTTP server lets through).

Which credential wins, as documented in ``app/utils/dependencies.py`` and SECURITY.md:
``Authorization: Bearer`` when the header is present at all (even malformed: no fallback to the
cookie), else the session cookie (``__Secure-`` prefixed first). Of repeated ``Authorization``
fields, none is used: the request is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.security.helpers import ME, World, assert_not_echoed, assert_refused

Headers = list[tuple[bytes, bytes]]
COOKIE = b"better-auth.session_token"
SECURE_COOKIE = b"__Secure-better-auth.session_token"


@dataclass(frozen=True)
class RequestRow:
    name: str
    build: Callable[[World], Headers]
    status: int
    code: str


def authorization(value: bytes) -> Headers:
    return [(b"authorization", value)]


def cookie(value: bytes) -> Headers:
    return [(b"cookie", value)]


def signed(w: World, token: str | None = None, secret: str = TEST_SECRET) -> bytes:
    """A session credential as the bearer plugin sends it."""
    return w.signed_session(secret, token).encode()


def cookie_value(w: World, token: str | None = None, secret: str = TEST_SECRET) -> bytes:
    """A session credential as Better-Auth's cookie carries it (URL-encoded)."""
    return quote(w.signed_session(secret, token), safe="").encode()


def session_cookie(w: World, token: str | None = None) -> Headers:
    return cookie(COOKIE + b"=" + cookie_value(w, token))


def jwt(w: World, **claims: object) -> bytes:
    return w.token(**claims).encode()


HEADERS: list[RequestRow] = [
    RequestRow(
        "authorization/crlf-inside-the-token",
        lambda w: authorization(b"Bearer " + signed(w)[:10] + b"\r\n" + signed(w)[10:]),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/crlf-header-injection",
        lambda w: authorization(b"Bearer " + signed(w) + b"\r\nX-User-Id: " + w.other_id.encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/lf-inside-the-token",
        lambda w: authorization(b"Bearer " + signed(w)[:10] + b"\n" + signed(w)[10:]),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/nul-inside-the-token",
        lambda w: authorization(b"Bearer " + signed(w)[:10] + b"\x00" + signed(w)[10:]),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/nul-after-the-token",
        lambda w: authorization(b"Bearer " + w.session_token.encode() + b"\x00"),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/nul-inside-a-jwt",
        lambda w: authorization(b"Bearer " + jwt(w)[:20] + b"\x00" + jwt(w)[20:]),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/utf-8-bytes",
        lambda w: authorization("Bearer ключ-🔑".encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/raw-0xff-bytes",
        lambda w: authorization(b"Bearer \xff\xfe\xfd"),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/jwt-lookalike-with-emoji",
        lambda w: authorization("Bearer eyJhbGciOiJFZERTQSJ9.eyJ🙂.c2ln".encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/basic-scheme",
        lambda w: authorization(b"Basic dXNlcjpwYXNz"),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow(
        "authorization/scheme-only", lambda w: authorization(b"Bearer"), 401, "TOKEN_INVALID"
    ),
    RequestRow(
        "authorization/tab-after-scheme",
        lambda w: authorization(b"Bearer\t" + w.session_token.encode()),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow("authorization/empty", lambda w: authorization(b""), 401, "TOKEN_INVALID"),
    RequestRow("authorization/spaces-only", lambda w: authorization(b"   "), 401, "TOKEN_INVALID"),
    RequestRow(
        "authorization/token-scheme",
        lambda w: authorization(b"Token " + w.session_token.encode()),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow(
        "authorization/bearer-twice",
        lambda w: authorization(b"Bearer Bearer " + w.session_token.encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/two-tokens",
        lambda w: authorization(
            b"Bearer " + w.session_token.encode() + b" " + w.other_session_token.encode()
        ),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/20-KB",
        lambda w: authorization(b"Bearer " + b"A" * 20_000),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "authorization/1-MB",
        lambda w: authorization(b"Bearer " + b"A" * 1_000_000),
        431,
        "HEADERS_TOO_LARGE",
    ),
    RequestRow(
        "authorization/1-MB-of-dots",
        lambda w: authorization(b"Bearer " + b"a.b." * 250_000),
        431,
        "HEADERS_TOO_LARGE",
    ),
    RequestRow(
        "headers/4000-small-headers",
        lambda w: (
            [(f"x-h{i}".encode(), b"v" * 8) for i in range(4000)]
            + authorization(b"Bearer " + signed(w))
        ),
        431,
        "HEADERS_TOO_LARGE",
    ),
    RequestRow(
        "authorization/repeated-garbage-first",
        lambda w: authorization(b"Bearer garbage") + authorization(b"Bearer " + signed(w)),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow(
        "authorization/repeated-basic-first",
        lambda w: authorization(b"Basic dXNlcjpwYXNz") + authorization(b"Bearer " + signed(w)),
        401,
        "TOKEN_INVALID",
    ),
]

COOKIES: list[RequestRow] = [
    RequestRow(
        "cookie/garbage", lambda w: cookie(COOKIE + b"=%%%garbage%%%"), 401, "SESSION_INVALID"
    ),
    RequestRow("cookie/empty-value", lambda w: cookie(COOKIE + b"="), 401, "SESSION_INVALID"),
    RequestRow(
        "cookie/20-KB", lambda w: cookie(COOKIE + b"=" + b"A" * 20_000), 401, "SESSION_INVALID"
    ),
    RequestRow(
        "cookie/1-MB",
        lambda w: cookie(COOKIE + b"=" + b"A" * 1_000_000),
        431,
        "HEADERS_TOO_LARGE",
    ),
    # Better-Auth always signs its cookie: a bare token is refused there (the bearer plugin
    # accepts one in the Authorization header only).
    RequestRow(
        "cookie/unsigned-live-session",
        lambda w: cookie(COOKIE + b"=" + w.session_token.encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/forged-signature",
        lambda w: cookie(
            COOKIE + b"=" + cookie_value(w, secret="not-the-secret-not-the-secret-00")
        ),
        401,
        "SESSION_INVALID",
    ),
    RequestRow("cookie/jwt", lambda w: cookie(COOKIE + b"=" + jwt(w)), 401, "SESSION_INVALID"),
    RequestRow(
        "cookie/invalid-utf-8-escape",
        lambda w: cookie(COOKIE + b"=%C3%28" + w.session_token.encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/nul",
        lambda w: cookie(COOKIE + b"=" + cookie_value(w) + b"\x00"),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/utf-8-bytes",
        lambda w: cookie(COOKIE + "=сессия".encode()),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/secure-prefixed-garbage-shadows-valid-plain",
        lambda w: cookie(SECURE_COOKIE + b"=garbage; " + COOKIE + b"=" + cookie_value(w)),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/expired-session",
        lambda w: session_cookie(w, w.expired_session_token),
        401,
        "SESSION_EXPIRED",
    ),
    RequestRow(
        "cookie/of-deleted-user",
        lambda w: session_cookie(w, w.deleted_session_token),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "cookie/of-banned-user",
        lambda w: session_cookie(w, w.banned_session_token),
        403,
        "BANNED_USER",
    ),
    RequestRow(
        "cookie/malformed-header",
        lambda w: cookie(b";;;=;" + COOKIE),
        401,
        "TOKEN_MISSING",
    ),
    RequestRow("cookie/other-name-only", lambda w: cookie(b"session=abc"), 401, "TOKEN_MISSING"),
    RequestRow(
        "cookie/name-in-other-case",
        lambda w: cookie(b"Better-Auth.Session_Token=" + cookie_value(w)),
        401,
        "TOKEN_MISSING",
    ),
]

# The Authorization header, when present, decides alone: a refused bearer never falls back to
# a valid cookie.
BOTH: list[RequestRow] = [
    RequestRow(
        "both/garbage-bearer-valid-cookie",
        lambda w: authorization(b"Bearer garbage") + session_cookie(w),
        401,
        "SESSION_INVALID",
    ),
    RequestRow(
        "both/basic-authorization-valid-cookie",
        lambda w: authorization(b"Basic dXNlcjpwYXNz") + session_cookie(w),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow(
        "both/empty-authorization-valid-cookie",
        lambda w: authorization(b"") + session_cookie(w),
        401,
        "TOKEN_INVALID",
    ),
    RequestRow(
        "both/expired-jwt-valid-cookie",
        lambda w: (
            authorization(b"Bearer " + jwt(w, iat=w.now - 2000, exp=w.now - 1100))
            + session_cookie(w)
        ),
        401,
        "TOKEN_EXPIRED",
    ),
    RequestRow(
        "both/banned-user-jwt-valid-cookie",
        lambda w: authorization(b"Bearer " + jwt(w, user_id=w.banned_id)) + session_cookie(w),
        403,
        "BANNED_USER",
    ),
]

REQUESTS = [*HEADERS, *COOKIES, *BOTH]


def credential_material(w: World) -> list[str]:
    """The credentials the rows carry, for the "never echoed" check."""
    return [w.session_token, w.other_session_token, w.signed_session()]


@pytest.mark.parametrize("row", REQUESTS, ids=lambda row: row.name)
async def test_hostile_request_is_refused(
    row: RequestRow,
    http: httpx.AsyncClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        response = await http.get(ME, headers=row.build(world))
    assert_refused(response, row.status, row.code)
    for secret in credential_material(world):
        assert_not_echoed(secret, response, caplog)


def test_request_names_are_unique() -> None:
    names = [row.name for row in REQUESTS]
    assert len(names) == len(set(names))


# --- which credential wins --------------------------------------------------------------------


async def me(http: httpx.AsyncClient, headers: Headers) -> str:
    response = await http.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    user_id: str = response.json()["id"]
    return user_id


class TestPrecedence:
    """Cookie and bearer both present with different users: the bearer wins, the cookie is
    ignored (not merged, not a fallback)."""

    async def test_bearer_jwt_wins_over_the_cookie_of_another_user(
        self, http: httpx.AsyncClient, world: World
    ) -> None:
        headers = authorization(b"Bearer " + jwt(world, user_id=world.other_id))
        assert await me(http, headers + session_cookie(world)) == world.other_id

    async def test_bearer_session_token_wins_over_the_cookie_of_another_user(
        self, http: httpx.AsyncClient, world: World
    ) -> None:
        headers = authorization(b"Bearer " + world.other_session_token.encode())
        assert await me(http, headers + session_cookie(world)) == world.other_id
        signed_other = authorization(b"Bearer " + signed(world, world.other_session_token))
        assert await me(http, signed_other + session_cookie(world)) == world.other_id

    async def test_valid_bearer_ignores_a_garbage_cookie(
        self, http: httpx.AsyncClient, world: World
    ) -> None:
        headers = authorization(b"Bearer " + jwt(world)) + cookie(COOKIE + b"=%%%garbage")
        assert await me(http, headers) == world.user_id

    async def test_repeated_authorization_headers_are_refused(
        self, http: httpx.AsyncClient, world: World
    ) -> None:
        """A proxy that authorised one copy must not see the API act on another."""
        first_user = authorization(b"Bearer " + jwt(world))
        then_other = authorization(b"Bearer " + jwt(world, user_id=world.other_id))
        for headers in (first_user + then_other, then_other + first_user, first_user * 2):
            response = await http.get(ME, headers=headers)
            assert response.status_code == 401
            assert response.json()["code"] == "TOKEN_INVALID"

    async def test_secure_prefixed_cookie_wins_over_the_plain_one(
        self, http: httpx.AsyncClient, world: World
    ) -> None:
        other = quote(world.signed_session(token=world.other_session_token), safe="").encode()
        header = COOKIE + b"=" + cookie_value(world) + b"; " + SECURE_COOKIE + b"=" + other
        assert await me(http, cookie(header)) == world.other_id

    async def test_scheme_is_case_insensitive(self, http: httpx.AsyncClient, world: World) -> None:
        assert await me(http, authorization(b"bearer " + signed(world))) == world.user_id
        assert await me(http, authorization(b"BEARER  " + jwt(world) + b"  ")) == world.user_id


async def test_debug_logs_never_hold_a_credential(
    request: pytest.FixtureRequest,
    http: httpx.AsyncClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
) -> None:
    """Even at DEBUG, no credential lands in the logs.

    Known failure on SQLite: aiosqlite logs every statement with its parameters at DEBUG, so
    the session-token lookup writes the token to the log (``app.utils.logging`` sets the root
    logger to LOG_LEVEL and leaves third-party loggers alone). See SECURITY.md.
    """
    with caplog.at_level(logging.DEBUG):
        responses = [
            await http.get(ME, headers=authorization(b"Bearer " + signed(world))),
            await http.get(ME, headers=session_cookie(world)),
            await http.get(ME, headers=authorization(b"Bearer " + jwt(world))),
            await http.post("/api/v1/auth/verify", json={"token": world.session_token}),
        ]
    assert [response.status_code for response in responses] == [200, 200, 200, 200]
    for secret in (world.session_token, world.signed_session(), jwt(world).decode()):
        for response in responses:
            assert_not_echoed(secret, response, caplog)
