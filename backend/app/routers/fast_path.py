"""``GET /api/v1/users/me`` answered without FastAPI's routing and dependency resolution.

The hottest request of every frontend is "who am I" with a bearer JWT. Its answer is the user's
cached JSON (``render_user``), and what stands between the request and that answer is almost
all framework: matching the route among the routers, resolving its dependencies, building a
``Request`` and a ``Response``. This ASGI layer answers that one request itself when it can,
by the same authentication as ``get_principal`` (``IdentityService.authenticate``: token cache,
identity cache, ban, ``sid`` and the failure limiter), and hands everything else to the app
unchanged:

- any other path or method, a request with an API key header (the key wins over the bearer,
  as in ``get_principal``), or with an ``Origin`` header (CORS is the app's business);
- no bearer, several ``Authorization`` headers, a malformed one;
- any refusal or failure of the authentication: the app then authenticates again and answers
  with its own error (the failure is recorded there, once).

It sits inside ``EdgeMiddleware``: request id, security headers, metrics (by the route's
template) and the access line are the same as for the routed answer. The route itself stays
declared in ``app.routers.users`` for the contract, and serves whatever this layer passes on.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import ASGIApp, Receive, Scope, Send

from app.routers.credentials import bearer_from_header, credential_headers
from app.routers.render import render_user
from app.state import AppState

_JSON_HEADERS = ((b"content-type", b"application/json"),)


class UserMeFastPath:
    def __init__(self, app: ASGIApp, *, path: str, api_key_header: str) -> None:
        self.app = app
        self.path = path
        self.api_key_header = api_key_header
        self._route: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        body = await self._answer(scope)
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route_of(scope)  # for the metrics' route template
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope) -> bytes | None:
        """The user's JSON, or ``None`` when the app should answer."""
        headers = scope["headers"]
        if any(name == b"origin" for name, _ in headers):
            return None
        authorization, api_keys = credential_headers(headers, self.api_key_header)
        if api_keys:
            return None
        try:
            bearer = bearer_from_header(authorization)
            if bearer is None:
                return None
            state: AppState = scope["app"].state.services
            client = scope.get("client")
            state.auth_failures.check(client[0] if client else "unknown")
            principal = await state.identity_service(state.side_sessions).authenticate(bearer)
        except Exception:
            return None
        return render_user(principal.user)

    def _route_of(self, scope: Scope) -> Any:
        if self._route is None:
            for context in iter_route_contexts(list(scope["app"].routes)):
                route = context.original_route
                if (
                    isinstance(route, APIRoute)
                    and context.path_format == self.path
                    and "GET" in (route.methods or ())
                ):
                    self._route = route
                    break
        return self._route
