"""Route matching that does not grow with the number of routes.

FastAPI matches a request by trying every route in declaration order, router by router (and, for
an included router, twice: once to choose the router, once inside it), each try a regular
expression plus bookkeeping in the scope. With the API's forty routes a route declared last
cost some 50 µs more per request than one declared first: about a third of a small endpoint's
time.

``RouteIndex`` is the app router's entry point instead. From FastAPI's own list of routes (the
effective routes of every included router, in order) it indexes each route by the literal text
before its first parameter: by its whole path when it has none (``/api/v1/users/me``), else by
the path's static segments and its number of segments (``/api/v1/users`` and 5 for
``/api/v1/users/{userId}/sessions``; a parameter that may hold a ``/``, ``{rest:path}`` or a
converter of unknown shape, by the static segments alone). A request's candidates are the routes
under its path and under each of its leading segments, in declaration order: a handful of
dictionary lookups, whatever the number of routes. FastAPI's own
``matches`` decides among them, so the first route that matches is the one FastAPI's scan would
choose: every route that can match the path is a candidate (a route's literal prefix must begin
the path), and their order is the declaration order.

When the first full match is a FastAPI route, it is handled exactly as FastAPI's router handles
it (the same scope keys, the same ``handle``). Everything else goes to FastAPI's router
unchanged: no full match (405, the trailing-slash redirect, low-priority frontend routes, 404),
a match that is not a FastAPI route (a mount, a plain Starlette route), a router with its own
middleware or form limits. The index is rebuilt when the app's routes change (``_signature``).

Each indexed FastAPI route also gets its dependency plan (``app.utils.dependency_plans``): the
dependencies that take only the request are solved without FastAPI's walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette._utils import get_route_path  # what routing matches: --root-path stripped
from starlette.convertors import (
    FloatConvertor,
    IntegerConvertor,
    StringConvertor,
    UUIDConvertor,
)
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.utils import dependency_plans
from app.utils.dependency_plans import PLAN_SCOPE_KEY, DependencyPlan, plan_for

try:  # FastAPI's own bookkeeping of the chosen route (private: checked by the test suite)
    from fastapi.routing import (
        _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
        _FASTAPI_INCLUDED_ROUTER_KEY,
        _EffectiveRouteContext,
        _get_fastapi_scope,
        _IncludedRouter,
        _update_scope,
    )
    from fastapi.telemetry._api import _route_selected

    SUPPORTED = True
except ImportError:  # pragma: no cover - another FastAPI: its own routing, unchanged
    SUPPORTED = False


@dataclass(frozen=True)
class Candidate:
    """One route as FastAPI's scan meets it: its position, how it matches, and (for a FastAPI
    route) what handling it needs. ``included``: the innermost included router, if any."""

    order: int
    route: Any  # an APIRoute, an _EffectiveRouteContext or any other BaseRoute
    api_route: APIRoute | None
    included: Any = None
    path_format: str | None = None
    # How its dependencies are solved (``app.utils.dependency_plans``), for a FastAPI route.
    plan: DependencyPlan | None = None


@dataclass
class _Index:
    signature: tuple[int, int]
    exact: dict[str, list[Candidate]] = field(default_factory=dict)
    # (static segments, number of "/"): parameters that never hold a "/".
    by_shape: dict[tuple[str, int], list[Candidate]] = field(default_factory=dict)
    by_prefix: dict[str, list[Candidate]] = field(default_factory=dict)
    anywhere: list[Candidate] = field(default_factory=list)
    # Every static path's merged candidates (exact, prefixes, anywhere), computed once.
    merged: dict[str, tuple[Candidate, ...]] = field(default_factory=dict)

    def candidates(self, path: str) -> tuple[Candidate, ...]:
        found = self.merged.get(path)
        if found is not None:
            return found
        return self.collect(path)

    def collect(self, path: str) -> tuple[Candidate, ...]:
        lists = [self.exact.get(path, ()), self.anywhere]
        by_shape, by_prefix = self.by_shape, self.by_prefix
        depth = path.count("/")
        # Every leading segment: "", "/api", "/api/v1", ... (each followed by a "/").
        position = path.find("/")
        while position != -1:
            leading = path[:position]
            found = by_shape.get((leading, depth))
            if found is not None:
                lists.append(found)
            found = by_prefix.get(leading)
            if found is not None:
                lists.append(found)
            position = path.find("/", position + 1)
        merged = [candidate for found in lists for candidate in found]
        if len(lists) > 2 or (lists[0] and lists[1]):
            merged.sort(key=_order)
        return tuple(merged)


def _order(candidate: Candidate) -> int:
    return candidate.order


# Converters whose values never contain a "/": a route made of them has a fixed number of segments.
_ONE_SEGMENT = (StringConvertor, IntegerConvertor, FloatConvertor, UUIDConvertor)


def _static_segments(path_format: str) -> str:
    """The text before the first parameter, up to its last "/" ("" for ``/{x}``)."""
    literal = path_format[: path_format.find("{")]
    return literal[: literal.rfind("/")] if "/" in literal else ""


def _fixed_depth(route: Any) -> bool:
    convertors = getattr(route, "param_convertors", None)
    return isinstance(convertors, dict) and all(
        type(convertor) in _ONE_SEGMENT for convertor in convertors.values()
    )


def _leaves(routes: list[BaseRoute], included: Any = None) -> Iterator[tuple[Any, Any]]:
    """FastAPI's candidates in the order its scan tries them, with their included router."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            for candidate in route.effective_candidates():
                if isinstance(candidate, _IncludedRouter):
                    yield from _leaves([candidate], included)
                else:
                    yield candidate, route
        else:
            yield route, included


def _uses_form_limits(router: APIRouter) -> bool:
    if getattr(router, "form_limits", None):
        return True
    return any(
        isinstance(route, _IncludedRouter)
        and (route.include_context.form_limits or _uses_form_limits(route.original_router))
        for route in router.routes
    )


def build_index(router: APIRouter) -> _Index:
    index = _Index(signature=_signature(router))
    for order, (route, included) in enumerate(_leaves(list(router.routes))):
        api_route: APIRoute | None = None
        if isinstance(route, _EffectiveRouteContext):
            if isinstance(route.original_route, APIRoute):
                api_route = route.original_route
        elif isinstance(route, APIRoute):
            api_route = route
        path_format = getattr(route, "path_format", None)
        plan = plan_for(getattr(route, "dependant", None)) if api_route is not None else None
        candidate = Candidate(order, route, api_route, included, path_format, plan)
        if not isinstance(path_format, str) or not path_format.startswith("/"):
            index.anywhere.append(candidate)  # a Host, or a route of unknown shape
            continue
        if "{" not in path_format:
            index.exact.setdefault(path_format, []).append(candidate)
        elif _fixed_depth(route):
            shape = (_static_segments(path_format), path_format.count("/"))
            index.by_shape.setdefault(shape, []).append(candidate)
        else:
            index.by_prefix.setdefault(_static_segments(path_format), []).append(candidate)
    for path in index.exact:
        index.merged[path] = index.collect(path)
    return index


def _signature(router: APIRouter) -> tuple[int, int]:
    """The app router's own routes version and length: a route added to the app or a router
    included in it changes it. (FastAPI's whole-tree version walks every included router,
    a microsecond per request; a route added to a router *already included* is found by
    FastAPI's router when the index finds nothing.)"""
    return router._routes_version, len(router.routes)


class RouteIndex:
    """The app router's entry point: the chosen FastAPI route handled directly, anything else
    by FastAPI's router (``fallback``)."""

    def __init__(self, router: APIRouter, fallback: ASGIApp) -> None:
        self.router = router
        self.fallback = fallback
        self._index: _Index | None = None

    def index(self) -> _Index:
        index = self._index
        if index is None or index.signature != _signature(self.router):
            index = self._index = build_index(self.router)
        return index

    def choose(self, scope: Scope) -> tuple[Candidate, Scope] | None:
        """The route FastAPI's scan would handle ``scope`` with, when it is a FastAPI route
        matched in full, with the scope it adds; ``None``: FastAPI's router decides."""
        for candidate in self.index().candidates(get_route_path(scope)):
            match, child_scope = candidate.route.matches(scope)
            if match is Match.FULL:
                return (candidate, child_scope) if candidate.api_route is not None else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.choose(scope) if scope["type"] == "http" else None
        if chosen is None:
            await self.fallback(scope, receive, send)
            return
        candidate, child_scope = chosen
        route = candidate.api_route
        assert route is not None
        if "router" not in scope:
            scope["router"] = self.router
        if candidate.plan is not None:
            scope[PLAN_SCOPE_KEY] = candidate.plan
        if candidate.included is None:
            # A route of the app itself (APIRouter.app).
            _update_scope(scope, child_scope)
            _route_selected(scope=scope, path=candidate.path_format)
            await route.handle(scope, receive, send)
            return
        # A route of an included router (_IncludedRouter._handle_selected).
        fastapi_scope = _get_fastapi_scope(scope)
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = candidate.included
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=candidate.path_format)
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = candidate.route
        scope["route"] = route
        await route.handle(scope, receive, send)


def install_route_index(app: FastAPI) -> RouteIndex | None:
    """Put a ``RouteIndex`` in front of ``app``'s router; ``None`` when the router has
    middleware or form limits of its own (or FastAPI's internals are not the known ones)."""
    router = app.router
    plain: Callable[..., Any] = router.app
    if not SUPPORTED or router.middleware_stack != plain or _uses_form_limits(router):
        return None
    index = RouteIndex(router, plain)
    router.middleware_stack = index
    dependency_plans.install()
    return index
