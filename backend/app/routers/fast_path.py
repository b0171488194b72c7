"""The two hottest GETs answered without FastAPI's routing and dependency resolution.

``GET /api/v1/users/me`` ("who am I", every page of every frontend) and ``GET /api/v1/users``
(an admin's user search) with a bearer credential. What stands between such a request and its
answer is mostly framework: matching the route among the routers, resolving a dozen
dependencies, reading thirteen query parameters one by one, building a ``Request`` and a
``Response``. This ASGI layer answers those requests itself when it can, with the same code the
routes call:

- authentication as ``get_principal`` does it (``IdentityService.authenticate``: token cache,
  identity cache, ban, ``sid`` and the failure limiter);
- for the list, the ``user:list`` check of ``require_permission`` and the query parameters
  validated by the route's own model (``user_params.plain_list_query``), then the page read
  by ``UserService.list_users``'s ``read_page``, on a pooled connection in autocommit (no ORM
  session to open, commit and close: a quarter of the request's CPU);
- errors raised by that read (a 422 filter, a 503 database) rendered by the app's own
  exception handlers.

It hands everything else to the app unchanged, so every error keeps a single source:

- any other path or method, a request with an API key header (the key wins over the bearer,
  as in ``get_principal``), or with an ``Origin`` header (CORS is the app's business);
- no bearer, several ``Authorization`` headers, a malformed one, a refused authentication (the
  app authenticates again and answers with its own error, recording the failure once; a 503
  of the authentication, the database or key source down, is answered here at once);
- a caller without ``user:list`` (the principal is passed on, so the app does not
  authenticate again), a query string that is not plain (an unknown, repeated or blank
  parameter, an invalid value: the route answers it, 422 included).

It sits inside ``EdgeMiddleware``: request id, security headers, metrics (by the route's
template) and the access line are the same as for a routed answer. The routes stay declared in
``app.routers.users`` for the contract, and serve whatever this layer passes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette._utils import get_route_path  # what routing matches: --root-path stripped
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.database import run_connection_read
from app.routers.credentials import bearer_from_header, credential_headers, verified_before
from app.routers.deps import PRINCIPAL_SCOPE_KEY, ensure_caller
from app.routers.render import render_user, render_user_page
from app.routers.user_params import plain_list_query
from app.services.access import requirements as need
from app.services.auth.identity import Principal
from app.services.users.query import read_page
from app.state import AppState
from app.utils.errors import AppError, Forbidden

_JSON_HEADERS = ((b"content-type", b"application/json"),)

# The JSON of a 200, or None: the app answers. Raising: the app's exception handlers answer.
Answer = Callable[[Scope, AppState, Principal], Awaitable[bytes | None]]


async def answer_me(scope: Scope, state: AppState, principal: Principal) -> bytes | None:
    return render_user(principal.user)


async def answer_user_list(scope: Scope, state: AppState, principal: Principal) -> bytes | None:
    try:
        ensure_caller(state.access, principal, need.LIST_USERS)
    except Forbidden:
        return None
    query = plain_list_query(scope["query_string"])
    if query is None:
        return None
    found, total = await run_connection_read(
        state.side_connection, lambda connection: read_page(connection, query)
    )
    return render_user_page(found, total=total, limit=query.limit, offset=query.offset)


class FastPaths:
    """``answers``: path -> how to answer a GET to it with a bearer credential."""

    def __init__(self, app: ASGIApp, *, answers: dict[str, Answer], api_key_header: str) -> None:
        self.app = app
        self.answers = answers
        self.api_key_header = api_key_header
        self._routes: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answers.get(get_route_path(scope)) if scope["type"] == "http" else None
        if answer is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
            body = None
            if principal is not None:
                # A fall-through does not authenticate again.
                scope[PRINCIPAL_SCOPE_KEY] = principal
                body = await answer(scope, scope["app"].state.services, principal)
        except Exception as error:
            scope["route"] = self._route_of(scope)
            await self._answer_error(scope, receive, send, error)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route_of(scope)  # for the metrics' route template
        headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _authenticate(self, scope: Scope) -> Principal | None:
        """The bearer's principal, or ``None`` when the app should decide (a refusal: the app
        records it and answers it). A failure of the server's own (a 503: the database or the
        key source is down) is raised: answered at once, not waited for a second time."""
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
            # As get_principal: a blocked address passes only with a credential verified before.
            state.auth_failures.check(
                client[0] if client else "unknown", vouched=lambda: verified_before(state, bearer)
            )
            return await state.identity_service(state.side_sessions).authenticate(bearer)
        except AppError as error:
            if error.status >= 500:
                raise
            return None

    async def _answer_error(
        self, scope: Scope, receive: Receive, send: Send, error: Exception
    ) -> None:
        """The app's own answer to ``error`` (its exception handlers, by the error's class);
        an error no handler takes goes on up to ``EdgeMiddleware``'s 500, as a routed one does."""
        handlers = scope["app"].exception_handlers
        handler = next((handlers[cls] for cls in type(error).__mro__ if cls in handlers), None)
        if handler is None:
            raise error
        response = await handler(Request(scope, receive), error)
        await response(scope, receive, send)

    def _route_of(self, scope: Scope) -> Any:
        path = get_route_path(scope)
        if path not in self._routes:
            for context in iter_route_contexts(list(scope["app"].routes)):
                route = context.original_route
                if (
                    isinstance(route, APIRoute)
                    and context.path_format == path
                    and "GET" in (route.methods or ())
                ):
                    self._routes[path] = route
                    break
        return self._routes.get(path)
