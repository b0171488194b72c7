"""The admin console at ``/admin``: a browser app of this API (``admin-console/``), served as
static files under a strict Content-Security-Policy.

The console signs in on the Better-Auth server with Better-Auth's own client, keeps the JWT it
gets from ``/api/auth/token`` in memory, and calls this API with it. Its page therefore talks to
two origins: this one, and ``BETTER_AUTH_URL``'s (the auth server). The policy allows exactly
those in ``connect-src``; scripts and styles come from this app only (no inline code, no CDN).

- ``/admin`` redirects to ``/admin/`` (the page's relative asset URLs need the slash);
- ``/admin/config.json``: what the page needs before sign-in: where Better-Auth is, where the
  API is (this app's root path), the role names this API accepts (set-role and
  update-member-role refuse others) and ``ADMIN_ROLES`` (the audit log's readers). Role names
  are not secret: Better-Auth's own ``adminClient`` and ``organizationClient`` ship them in
  the browser bundle; and the sign-in methods the auth server enables
  (``ADMIN_CONSOLE_SIGN_IN_PROVIDERS``, ``ADMIN_CONSOLE_PASSWORD_SIGN_IN``): Better-Auth has no
  endpoint that lists them, and they are no more secret than the buttons of any sign-in page;
- ``/admin/assets/*`` carry a content hash in their names (Vite): cached for a year; the page
  itself is revalidated on every load, so a new build is picked up at once;
- the built files missing (``npm run build`` never ran): 503 ``ADMIN_CONSOLE_NOT_BUILT``, as an
  HTML page for a browser and problem+json otherwise, never a 500. The files are looked up per
  request, so building while the API runs needs no restart;
- ``ADMIN_CONSOLE_ENABLED=false``: nothing is installed and ``/admin`` is a 404 like any path.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette._utils import get_route_path  # the path inside the mount, root path stripped
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from app.config import DEFAULT_ADMIN_CONSOLE_DIR, Settings
from app.routers.deps import AppStateDep
from app.utils.exceptions import PROBLEM_MEDIA_TYPE, problem_body
from app.utils.urls import url_origin

ADMIN_URL: Final = "/admin"
CONFIG_URL: Final = "/admin/config.json"
NOT_BUILT_CODE: Final = "ADMIN_CONSOLE_NOT_BUILT"
NOT_BUILT_DETAIL: Final = (
    "The admin console is not built: run `make admin-console` at the repository root "
    "(or `npm ci && npm run build` in admin-console/), then reload this page."
)
# What a provider's button says when its entry names no label: Better-Auth's built-in providers
# the way their owners write them; any other id is shown as it is.
PROVIDER_NAMES: Final = {
    "apple": "Apple",
    "discord": "Discord",
    "facebook": "Facebook",
    "github": "GitHub",
    "gitlab": "GitLab",
    "google": "Google",
    "linkedin": "LinkedIn",
    "microsoft": "Microsoft",
    "slack": "Slack",
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"


def console_csp(better_auth_url: str) -> str:
    """Scripts, styles, images and fonts from this app; connections to this app and to the
    auth server; no framing, no plugins, no form posts (the sign-in form is sent by script)."""
    auth_origin = url_origin(better_auth_url)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {auth_origin}",
            "manifest-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "object-src 'none'",
        )
    )


def sign_in_providers(entries: Iterable[str]) -> list[dict[str, str]]:
    """``ADMIN_CONSOLE_SIGN_IN_PROVIDERS`` (``id`` or ``id=Label``) as ``{"id", "name"}``."""
    providers = []
    for entry in entries:
        provider_id, _, label = (part.strip() for part in entry.partition("="))
        providers.append(
            {"id": provider_id, "name": label or PROVIDER_NAMES.get(provider_id, provider_id)}
        )
    return providers


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value
    return False


def _not_built(scope: Scope) -> Response:
    """503 with the command that builds the console: a page for a browser, else problem+json."""
    if _wants_html(scope):
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            "<title>Admin console not built</title></head><body><main>"
            "<h1>The admin console is not built</h1>"
            f"<p>{html.escape(NOT_BUILT_DETAIL)}</p></main></body></html>"
        )
        return HTMLResponse(page, status_code=503, headers={"Cache-Control": "no-store"})
    body = problem_body(
        status=503, code=NOT_BUILT_CODE, detail=NOT_BUILT_DETAIL, instance=str(scope["path"])
    )
    return JSONResponse(
        body, status_code=503, media_type=PROBLEM_MEDIA_TYPE, headers={"Cache-Control": "no-store"}
    )


class ConsoleFiles:
    """``StaticFiles`` for the built console with the console's policy and cache headers; the
    not-built answer while ``index.html`` is missing."""

    def __init__(self, directory: Path, csp: str) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, html=True, check_dir=False)
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.directory / "index.html").is_file():
            await _not_built(scope)(scope, receive, send)
            return
        # Inside the mount: the path below /admin (the mount and any --root-path stripped).
        assets = get_route_path(scope).startswith("/assets/")
        cache = IMMUTABLE if assets else REVALIDATE
        headers = self._headers(cache)

        async def respond(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.files(scope, receive, respond)

    def _headers(self, cache: str) -> Iterable[tuple[bytes, bytes]]:
        return ((b"content-security-policy", self.csp), (b"cache-control", cache.encode()))


def install_admin_console(app: FastAPI, settings: Settings) -> None:
    """``/admin``: the redirect, the page's settings and the built files."""
    directory = settings.admin_console_dir or DEFAULT_ADMIN_CONSOLE_DIR
    csp = console_csp(settings.better_auth_url)
    configured_roles = {*settings.known_roles, *settings.admin_roles}
    providers = sign_in_providers(settings.admin_console_sign_in_providers)

    @app.get(ADMIN_URL, include_in_schema=False)
    async def admin_console_redirect(request: Request) -> RedirectResponse:
        root = str(request.scope.get("root_path", ""))
        return RedirectResponse(f"{root}{ADMIN_URL}/", status_code=308)

    @app.get(CONFIG_URL, include_in_schema=False)
    async def admin_console_config(request: Request, state: AppStateDep) -> JSONResponse:
        # The roles set-role accepts (app.services.users.service): the file's and the settings';
        # the organization roles update-member-role accepts (the file's "organization" section).
        config = {
            "authUrl": settings.better_auth_url,
            "apiUrl": str(request.scope.get("root_path", "")),
            "roles": sorted(configured_roles | state.access.role_names),
            "adminRoles": list(settings.admin_roles),
            "organizationRoles": sorted(state.org_access.role_names),
            "passwordSignIn": settings.admin_console_password_sign_in,
            "signInProviders": providers,
        }
        return JSONResponse(
            config,
            headers={"Cache-Control": "no-store", "Content-Security-Policy": csp},
        )

    app.mount(ADMIN_URL, ConsoleFiles(directory, csp), name="admin-console")
