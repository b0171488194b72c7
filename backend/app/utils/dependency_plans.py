"""Dependencies that take only the request, solved in one call each instead of FastAPI's walk.

FastAPI solves each dependency of a request by walking it as it walks an endpoint: a recursive
``solve_dependencies`` that builds a result object, asks the dependency's path, query, header
and cookie parameters for values even when it declares none (parsing the query string and the
cookies to do it), computes its cache key and classifies its callable again. For
``get_current_user(request)`` that walk cost some 9 µs per request, more than the cached
authentication it wraps; for an endpoint with no dependency at all, the endpoint's own walk is
a few µs more.

A ``DependencyPlan`` does the same work directly for what needs none of it: a *step* is an
``async def`` dependency whose only parameters are the request (``Request`` or
``HTTPConnection``) and other steps. The guards (``CurrentUser``, ``require_permission``,
``require_role``...) are steps, and so is any dependency of a user's written the same way. A
route's plan is its leading steps, in declaration order, then what FastAPI's solver would do
next: when all that is left is the endpoint's path, query, header and cookie parameters, they
are read and validated here with FastAPI's own ``request_params_to_args``, in its order; anything
else (a dependency that is not a step, a body, a ``Response`` or ``BackgroundTasks`` parameter)
is left to FastAPI's ``solve_dependencies``, with the steps' results already in its dependency
cache. So the order of the calls, the dependency cache (``use_cache``), exceptions, validation
errors and every value the endpoint receives are what FastAPI's walk gives; only the walk is
gone.

The route index (``app.utils.route_index``) builds a plan per route when it indexes the routes
and hands it on in the request scope. FastAPI calls ``solve_dependencies`` from its request
handler by the module's global name; ``install`` puts ``solve_with_plan`` there, which uses the
scope's plan when it is the plan of the dependant being solved and no dependency override is
set, and FastAPI's own function otherwise (any other route, any other app, tests overriding a
dependency). ``tests/unit/test_dependency_plans.py`` serves the same routes both ways.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

try:  # FastAPI's internals (private: checked by the test suite)
    import fastapi.routing as fastapi_routing
    from fastapi._compat import Undefined, field_annotation_is_sequence
    from fastapi.dependencies.models import (
        Dependant,
        _get_cache_key,
        _is_async_gen_callable,
        _is_coroutine_callable,
        _is_gen_callable,
    )
    from fastapi.dependencies.utils import (
        SolvedDependency,
        _get_param_aliases,
        _get_param_model,
        _is_json_field,
        _validate_value_with_model_field,
        request_params_to_args,
    )
    from fastapi.dependencies.utils import solve_dependencies as fastapi_solve_dependencies

    SUPPORTED = True
except ImportError:  # pragma: no cover - another FastAPI: its own solver, unchanged
    SUPPORTED = False

PLAN_SCOPE_KEY: Final = "app.dependency_plan"
CacheKey = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """An ``async def`` dependency of the request and other steps only."""

    call: Callable[..., Awaitable[Any]]
    name: str | None
    key: CacheKey
    use_cache: bool
    request_names: tuple[str, ...]
    steps: tuple[Step, ...]

    async def solve(self, request: Request, cache: dict[Any, Any]) -> Any:
        # As FastAPI: a dependency's own dependencies first (even when its value is cached),
        # then the cache, then the call; the first value of a key is the one kept.
        values: dict[str, Any] = {}
        for step in self.steps:
            value = await step.solve(request, cache)
            if step.name is not None:
                values[step.name] = value
        key = self.key
        if self.use_cache and key in cache:
            return cache[key]
        for name in self.request_names:
            values[name] = request
        solved = await self.call(**values)
        if key not in cache:
            cache[key] = solved
        return solved


@dataclass(frozen=True, slots=True)
class DependencyPlan:
    """A route's leading steps; ``rest``: the dependant FastAPI solves after them (its other
    dependencies, its parameters, its body), ``None`` when all that is left is path, query,
    header and cookie parameters, read here with FastAPI's own ``request_params_to_args``."""

    dependant: Dependant
    steps: tuple[Step, ...]
    rest: Dependant | None
    request_names: tuple[str, ...]
    # Without ``rest``: the endpoint's parameters by kind (path, query, header, cookie).
    parameters: tuple[Parameters, ...] = ()

    async def solve(
        self, request: Request, background_tasks: Any, options: dict[str, Any]
    ) -> SolvedDependency:
        cache: dict[Any, Any] = options.pop("dependency_cache", None) or {}
        values: dict[str, Any] = {}
        for step in self.steps:
            value = await step.solve(request, cache)
            if step.name is not None:
                values[step.name] = value
        if self.rest is not None:
            solved = await fastapi_solve_dependencies(
                request=request,
                dependant=self.rest,
                background_tasks=background_tasks,
                dependency_cache=cache,
                **options,
            )
            solved.values.update(values)
            return solved
        # The endpoint's own parameters, as FastAPI's solver reads them, in its order.
        errors: list[Any] = []
        for parameters in self.parameters:
            parameters.read(request, values, errors)
        for name in self.request_names:
            values[name] = request
        return SolvedDependency(
            values=values,
            errors=errors,
            background_tasks=background_tasks,
            response=options.get("response") or _blank_response(),
            dependency_cache=cache,
        )


@dataclass(frozen=True, slots=True)
class Plain:
    """A parameter FastAPI reads with ``received.get(key)``: one name, no list, no model, no
    ``Json``. Its key and error location are worked out once here; FastAPI's
    ``request_params_to_args`` works them out on every request (a third of its cost)."""

    field: Any  # fastapi's ModelField
    name: str
    key: str
    location: tuple[str, str]


def plain(field: Any) -> Plain | None:
    if (
        _get_param_model(field) is not None
        or _is_json_field(field)
        or field_annotation_is_sequence(field.field_info.annotation)
    ):
        return None
    aliases = _get_param_aliases(field)
    if len(aliases) != 1:
        return None
    key = aliases[0][1]
    return Plain(field, field.name, key, (field.field_info.in_.value, key))


@dataclass(frozen=True, slots=True)
class Parameters:
    """The endpoint's parameters of one kind (path, query, header or cookie), read and validated
    as ``request_params_to_args`` does: its own code when one of them is not ``Plain``."""

    fields: tuple[Any, ...]
    plain: tuple[Plain, ...] | None
    received: Callable[[Request], Any]

    def read(self, request: Request, values: dict[str, Any], errors: list[Any]) -> None:
        if self.plain is None:
            found, invalid = request_params_to_args(list(self.fields), self.received(request))
            values.update(found)
            errors += invalid
            return
        received = self.received(request)
        own: dict[str, Any] = {}  # what FastAPI passes to the validator: this kind's values
        for parameter in self.plain:
            value = received.get(parameter.key)
            checked, invalid = _validate_value_with_model_field(
                field=parameter.field,
                value=Undefined if value is None else value,
                values=own,
                loc=parameter.location,
            )
            if invalid:
                errors.extend(invalid)
            else:
                own[parameter.name] = checked
        values.update(own)


def _parameters_of(dependant: Dependant) -> tuple[Parameters, ...]:
    kinds = (
        (dependant.path_params, _path_params),
        (dependant.query_params, _query_params),
        (dependant.header_params, _headers),
        (dependant.cookie_params, _cookies),
    )
    found = []
    for fields, received in kinds:
        if fields:
            plains = [plain(field) for field in fields]
            known = None if any(p is None for p in plains) else tuple(p for p in plains if p)
            found.append(Parameters(tuple(fields), known, received))
    return tuple(found)


def _path_params(request: Request) -> Any:
    return request.path_params


def _query_params(request: Request) -> Any:
    return request.query_params


def _headers(request: Request) -> Any:
    return request.headers


def _cookies(request: Request) -> Any:
    return request.cookies


def _blank_response() -> Response:
    """What FastAPI's solver gives the endpoint to set headers and a status code on (its
    ``Response()`` without the content-length, status ``None``), built without the header
    bookkeeping ``Response.__init__`` does only for FastAPI to undo it."""
    response = Response.__new__(Response)
    response.status_code = None  # type: ignore[assignment]
    response.background = None
    response.body = b""
    response.raw_headers = []
    return response


def _takes_only_the_request(dependant: Dependant) -> bool:
    return not (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or _takes_more_than_parameters(dependant)
    )


def _takes_more_than_parameters(dependant: Dependant) -> bool:
    """A body, or one of the objects FastAPI's solver makes (the response, background tasks,
    security scopes), or a websocket."""
    return bool(
        dependant.body_params
        or dependant.websocket_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _request_names(dependant: Dependant) -> tuple[str, ...]:
    names = (dependant.http_connection_param_name, dependant.request_param_name)
    return tuple(name for name in names if name is not None)


def step_of(dependant: Dependant) -> Step | None:
    """``dependant`` as a step, or ``None`` when FastAPI must solve it."""
    call = dependant.call
    if (
        call is None
        or dependant.concurrency is not None
        or not _takes_only_the_request(dependant)
        or _is_gen_callable(call)
        or _is_async_gen_callable(call)
        or not _is_coroutine_callable(call)
    ):
        return None
    steps = tuple(step_of(sub) for sub in dependant.dependencies)
    if any(step is None for step in steps):
        return None
    return Step(
        call=call,
        name=dependant.name,
        key=_get_cache_key(dependant=dependant),
        use_cache=dependant.use_cache,
        request_names=_request_names(dependant),
        steps=tuple(step for step in steps if step is not None),
    )


def plan_for(dependant: Dependant | None) -> DependencyPlan | None:
    """The plan of a route's dependant; ``None`` when it has nothing to save."""
    if not SUPPORTED or dependant is None:
        return None
    steps: list[Step] = []
    for sub in dependant.dependencies:
        step = step_of(sub)
        if step is None:
            break
        steps.append(step)
    remaining = dependant.dependencies[len(steps) :]
    if not remaining and not _takes_more_than_parameters(dependant):
        return DependencyPlan(
            dependant, tuple(steps), None, _request_names(dependant), _parameters_of(dependant)
        )
    if not steps:
        return None
    rest = dataclasses.replace(dependant, dependencies=list(remaining))
    return DependencyPlan(dependant, tuple(steps), rest, ())


async def solve_with_plan(
    *,
    request: Any,
    dependant: Dependant,
    background_tasks: Any = None,
    dependency_overrides_provider: Any | None = None,
    **options: Any,
) -> SolvedDependency:
    """FastAPI's ``solve_dependencies``, by the plan the route index left in the scope when it
    is this dependant's and no dependency override could change a step."""
    plan: DependencyPlan | None = request.scope.get(PLAN_SCOPE_KEY)
    if (
        plan is None
        or plan.dependant is not dependant
        or getattr(dependency_overrides_provider, "dependency_overrides", None)
    ):
        return await fastapi_solve_dependencies(
            request=request,
            dependant=dependant,
            background_tasks=background_tasks,
            dependency_overrides_provider=dependency_overrides_provider,
            **options,
        )
    options["dependency_overrides_provider"] = dependency_overrides_provider
    return await plan.solve(request, background_tasks, options)


def install() -> bool:
    """Route FastAPI's request handlers through ``solve_with_plan`` (once per process)."""
    if not SUPPORTED:
        return False  # pragma: no cover
    fastapi_routing.solve_dependencies = solve_with_plan  # type: ignore[attr-defined]
    return True
