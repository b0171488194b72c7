"""``/admin``: the admin console's files, its Content-Security-Policy and settings, the answer
while it is not built, and ``ADMIN_CONSOLE_ENABLED=false``. (The console itself, in a browser
against the real stack: tests/e2e/test_admin_console.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import DEFAULT_ADMIN_CONSOLE_DIR, PROJECT_DIR, Settings
from app.routers.admin_console import NOT_BUILT_CODE, console_csp
from app.utils.security import API_CSP
from tests.conftest import AppFactory, make_settings
from tests.support.console import CONFIG_FILE

AUTH_URL = "https://auth.example.com"
INDEX = '<!DOCTYPE html><html lang="en"><head><title>Admin console</title></head></html>'


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A stand-in for admin-console/dist: the page and one hashed asset."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('console')")
    return tmp_path


async def client_for(app_factory: AppFactory, **overrides: object) -> httpx.AsyncClient:
    app = await app_factory(better_auth_url=AUTH_URL, **overrides)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def console(app_factory: AppFactory, built: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(app_factory, admin_console_dir=str(built)) as client:
        yield client


class TestServedFiles:
    async def test_the_page_under_the_console_policy(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/admin/")
        assert response.status_code == 200
        assert response.text == INDEX
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == console_csp(AUTH_URL)
        # Revalidated on each load: a new build shows at once.
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-frame-options"] == "DENY"

    async def test_hashed_assets_are_cached_for_good(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/admin/assets/index-abc123.js")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-security-policy"] == console_csp(AUTH_URL)

    async def test_admin_redirects_to_the_page(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/admin")
        assert (response.status_code, response.headers["location"]) == (308, "/admin/")

    async def test_a_missing_file_is_a_404(self, console: httpx.AsyncClient) -> None:
        assert (await console.get("/admin/assets/nothing.js")).status_code == 404

    async def test_the_api_keeps_its_own_policy(self, console: httpx.AsyncClient) -> None:
        response = await console.get("/health/live")
        assert response.headers["content-security-policy"] == API_CSP


class TestPolicy:
    def test_connections_to_this_app_and_the_auth_server_only(self) -> None:
        directives = dict(
            item.strip().split(" ", 1) for item in console_csp(AUTH_URL + "/").split(";")
        )
        assert directives["connect-src"] == f"'self' {AUTH_URL}"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"  # no 'unsafe-inline', unlike the docs
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["form-action"] == "'none'"

    def test_the_auth_server_s_origin_not_its_path(self) -> None:
        policy = console_csp("https://Example.com:443/auth")
        assert "connect-src 'self' https://example.com;" in policy


class TestConfig:
    async def test_what_the_page_needs_before_sign_in(self, app_factory: AppFactory) -> None:
        async with await client_for(
            app_factory, access_control_file=str(CONFIG_FILE), admin_roles="admin"
        ) as client:
            response = await client.get("/admin/config.json")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.json() == {
            "authUrl": AUTH_URL,
            "apiUrl": "",
            "roles": ["admin", "moderator", "support", "user"],
            "adminRoles": ["admin"],
            "organizationRoles": ["admin", "member", "owner"],
            "passwordSignIn": True,
            "signInProviders": [],
        }

    async def test_the_sign_in_methods_the_auth_server_enables(
        self, app_factory: AppFactory
    ) -> None:
        async with await client_for(
            app_factory,
            admin_console_sign_in_providers="google, github,local-oidc, corp-sso=Acme SSO",
            admin_console_password_sign_in=False,
        ) as client:
            config = (await client.get("/admin/config.json")).json()
        assert config["passwordSignIn"] is False
        assert config["signInProviders"] == [
            {"id": "google", "name": "Google"},
            {"id": "github", "name": "GitHub"},
            {"id": "local-oidc", "name": "local-oidc"},
            {"id": "corp-sso", "name": "Acme SSO"},
        ]

    async def test_behind_a_path_prefix(self, app_factory: AppFactory, built: Path) -> None:
        app = await app_factory(better_auth_url=AUTH_URL, admin_console_dir=str(built))
        transport = httpx.ASGITransport(app=app, root_path="/backend")
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/backend/admin/config.json")).json()["apiUrl"] == "/backend"
            redirect = await client.get("/backend/admin")
            assert redirect.headers["location"] == "/backend/admin/"
            assert (await client.get("/backend/admin/")).text == INDEX


class TestNotBuilt:
    async def test_problem_json_names_the_command(
        self, app_factory: AppFactory, tmp_path: Path
    ) -> None:
        async with await client_for(app_factory, admin_console_dir=str(tmp_path)) as client:
            response = await client.get("/admin/")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["code"], body["status"]) == (NOT_BUILT_CODE, 503)
        assert "make admin-console" in body["detail"]

    async def test_a_page_for_a_browser(self, app_factory: AppFactory, tmp_path: Path) -> None:
        async with await client_for(app_factory, admin_console_dir=str(tmp_path)) as client:
            response = await client.get("/admin/", headers={"Accept": "text/html"})
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "make admin-console" in response.text

    async def test_built_while_running_is_served_without_a_restart(
        self, app_factory: AppFactory, tmp_path: Path
    ) -> None:
        async with await client_for(app_factory, admin_console_dir=str(tmp_path)) as client:
            assert (await client.get("/admin/")).status_code == 503
            (tmp_path / "index.html").write_text(INDEX)
            assert (await client.get("/admin/")).status_code == 200


class TestDisabled:
    async def test_nothing_is_served(self, app_factory: AppFactory, built: Path) -> None:
        async with await client_for(
            app_factory, admin_console_enabled=False, admin_console_dir=str(built)
        ) as client:
            for path in ("/admin", "/admin/", "/admin/config.json", "/admin/assets/x.js"):
                response = await client.get(path)
                assert response.status_code == 404, path
                assert response.headers["content-type"] == "application/problem+json"


def test_the_default_directory_is_the_console_s_build() -> None:
    settings: Settings = make_settings("sqlite://")
    assert settings.admin_console_dir == DEFAULT_ADMIN_CONSOLE_DIR
    assert DEFAULT_ADMIN_CONSOLE_DIR == PROJECT_DIR / "admin-console" / "dist"
