"""docker-compose.yml built and run for real, through its published ports only.

The stack comes up with ``--wait`` (db, auth and api healthy, migrate exited 0); a user signs up
on the auth server, gets a JWT and reads ``/users/me``; an admin (made with the CLI inside the
api container) bans another user, whose very next request is refused; ``/metrics`` answers the
token and nobody else; ``/docs`` renders, and so does the admin console the image built at
``/admin/``, with its scripts. Then the ``api`` container and the database container
are restarted in turn: the API comes back ready, tokens minted before still work, the ban and
the audit log are still there, and new sign-ups and bans work again.

The tests of this module run in order and share the stack and its users.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.services.platform.metrics import NOTICE_LAG_METRIC
from tests.compose.harness import API_PREFIX, Compose, bearer, poll, urls, wait_ready
from tests.e2e.better_auth import BetterAuthClient, SignedIn, jwt_claims

ME = f"{API_PREFIX}/users/me"


@dataclass
class World:
    """What the tests of this module build up, in order."""

    auth: BetterAuthClient
    api: str
    user: SignedIn | None = None
    user_jwt: str = ""
    admin: SignedIn | None = None
    admin_jwt: str = ""
    banned: SignedIn | None = None
    banned_jwt: str = ""
    facts: dict[str, object] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(base_stack: Compose) -> World:
    auth_url, api_url = urls(base_stack.variables)
    return World(auth=BetterAuthClient(auth_url), api=api_url)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        yield client


def signed_up(world: World, label: str) -> tuple[SignedIn, str]:
    user = world.auth.sign_up(name=label)
    return user, world.auth.token(user.session_token)


def test_every_service_is_up(base_stack: Compose) -> None:
    for service in ("db", "auth", "api"):
        (container,) = base_stack.containers(service)
        assert container["State"] == "running", container
        assert "(healthy)" in container["Status"], container
    (migrate,) = base_stack.containers("migrate")
    assert migrate["State"] == "exited", migrate
    assert migrate["ExitCode"] == 0, migrate


async def test_sign_up_jwt_users_me(world: World, http: httpx.AsyncClient) -> None:
    world.user, world.user_jwt = signed_up(world, "Compose User")
    claims = jwt_claims(world.user_jwt)
    # The published auth origin is the tokens' issuer; the API (inside the network) agrees.
    assert claims["iss"] == world.auth.base_url.replace("127.0.0.1", "localhost")
    response = await http.get(f"{world.api}{ME}", headers=bearer(world.user_jwt))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == world.user.user_id
    assert response.json()["email"] == world.user.email


async def test_an_admin_ban_is_refused_at_once(
    base_stack: Compose, world: World, http: httpx.AsyncClient
) -> None:
    world.admin, world.admin_jwt = signed_up(world, "Compose Admin")
    output = base_stack.exec("api", "python", "-m", "app.cli", "grant-admin", world.admin.email)
    assert world.admin.email in output
    world.banned, world.banned_jwt = signed_up(world, "Compose Banned")
    # Cached by the API as a valid, unbanned user before the ban.
    assert (await http.get(f"{world.api}{ME}", headers=bearer(world.banned_jwt))).status_code == 200

    ban = await http.post(
        f"{world.api}{API_PREFIX}/users/{world.banned.user_id}/ban",
        headers=bearer(world.admin_jwt),
        json={"banReason": "compose test"},
    )
    assert ban.status_code == 200, ban.text
    assert ban.json()["banned"] is True
    # Its very next request: both workers, so a few requests reach each of them.
    for _ in range(6):
        refused = await http.get(f"{world.api}{ME}", headers=bearer(world.banned_jwt))
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "BANNED_USER"
    # Better-Auth sees the ban in the shared database too: no new session for them.
    assert world.auth.sign_in_response(world.banned.email).status_code == 403


async def test_metrics_answer_the_token_only(
    base_stack: Compose, world: World, http: httpx.AsyncClient
) -> None:
    url = f"{world.api}/metrics"
    assert (await http.get(url)).status_code == 404  # the host is not in METRICS_ALLOWED_IPS
    assert (await http.get(url, headers=bearer("wrong"))).status_code == 404
    response = await http.get(url, headers=bearer(base_stack.variables["METRICS_TOKEN"]))
    assert response.status_code == 200
    families = {family.name for family in text_string_to_metric_families(response.text)}
    # Several workers share their metrics through PROMETHEUS_MULTIPROC_DIR (the entry point
    # makes it on the read-only container's tmpfs).
    assert "http_requests" in families or any(name.startswith("bab_") for name in families)
    assert NOTICE_LAG_METRIC in families


async def test_docs_render(world: World, http: httpx.AsyncClient) -> None:
    docs = await http.get(f"{world.api}/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger" in docs.text.lower()
    spec = await http.get(f"{world.api}/openapi.json")
    assert spec.status_code == 200
    assert ME in spec.json()["paths"]


async def test_admin_console_is_served(world: World, http: httpx.AsyncClient) -> None:
    """The image built the console in its own stage: the page and the scripts it names answer,
    under the console's Content-Security-Policy."""
    page = await http.get(f"{world.api}/admin/")
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
    assert scripts, page.text
    for src in scripts:  # Vite writes them relative to the page: ./assets/index-<hash>.js
        asset = await http.get(f"{world.api}/admin/{src.removeprefix('./')}")
        assert asset.status_code == 200, src
        assert "javascript" in asset.headers["content-type"]


async def _nothing_lost(world: World, http: httpx.AsyncClient) -> None:
    """Tokens minted before still work, the ban holds, the audit log kept the ban."""
    assert world.user is not None
    assert world.banned is not None
    me = await http.get(f"{world.api}{ME}", headers=bearer(world.user_jwt))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == world.user.user_id
    refused = await http.get(f"{world.api}{ME}", headers=bearer(world.banned_jwt))
    assert refused.status_code == 403
    audit = await http.get(f"{world.api}{API_PREFIX}/audit-events", headers=bearer(world.admin_jwt))
    assert audit.status_code == 200, audit.text
    events = audit.json()["events"]
    assert any(
        event["action"] == "user.ban" and event["targetId"] == world.banned.user_id
        for event in events
    ), events


async def _still_writable(world: World, http: httpx.AsyncClient) -> None:
    """A new user signs up, and an admin ban on them is refused at once."""
    user, token = signed_up(world, "After Restart")
    assert (await http.get(f"{world.api}{ME}", headers=bearer(token))).status_code == 200
    ban = await http.post(
        f"{world.api}{API_PREFIX}/users/{user.user_id}/ban",
        headers=bearer(world.admin_jwt),
        json={},
    )
    assert ban.status_code == 200, ban.text
    assert (await http.get(f"{world.api}{ME}", headers=bearer(token))).status_code == 403


async def test_api_restart_loses_nothing(
    base_stack: Compose, world: World, http: httpx.AsyncClient
) -> None:
    base_stack.run("restart", "api")
    await wait_ready(http, world.api)
    await _nothing_lost(world, http)
    await _still_writable(world, http)


async def test_database_restart_loses_nothing(
    base_stack: Compose, world: World, http: httpx.AsyncClient
) -> None:
    base_stack.run("restart", "db")
    await wait_ready(http, world.api)

    async def auth_server_back() -> bool | None:
        assert world.user is not None
        response = world.auth.sign_in_response(world.user.email)
        return True if response.status_code == 200 else None

    # The auth server's pool reconnects on its own (it is not restarted).
    await poll(auth_server_back, within=60, interval=0.5)
    await _nothing_lost(world, http)
    await _still_writable(world, http)
    # The API's readiness says the invalidation feed is live again (its listener reconnected).

    async def feed_live() -> bool | None:
        body = (await http.get(f"{world.api}/health/ready")).json()
        return True if body["checks"]["identityFeed"]["info"]["state"] == "live" else None

    await poll(feed_live, within=30, interval=0.5)
