"""The OpenAPI ``security`` of every authenticated operation, declared without a dependency.

FastAPI learns an operation's security schemes from ``Security(scheme)`` parameters in its
dependency tree, and then *runs* those schemes on every request. Each dependency costs its
resolution (tens of microseconds, more than a cached authentication itself), and the schemes'
work is done again by ``get_principal``, which parses the credentials precisely. So the schemes
are not dependencies; this module writes into the generated document what FastAPI would have
written: the three schemes under ``components.securitySchemes``, and on each operation whose
dependencies reach an authenticating dependency, the alternatives in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _authenticated_operations(
    app: FastAPI, authenticates: Callable[[object], bool]
) -> Iterator[tuple[str, str]]:
    for context in iter_route_contexts(list(app.routes)):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if any(authenticates(call) for call in _calls(route.dependant)):
            for method in sorted(route.methods or ()):
                yield str(context.path_format), method.lower()


def _with_security(operation: dict[str, Any], requirement: list[Any]) -> dict[str, Any]:
    """The operation with ``security`` where FastAPI puts it: after the metadata, before the
    parameters, body and responses."""
    keys = list(operation)
    at = next((i for i, key in enumerate(keys) if key in _AFTER_SECURITY), len(keys))
    items = list(operation.items())
    return dict([*items[:at], ("security", requirement), *items[at:]])


_AFTER_SECURITY = frozenset({"parameters", "requestBody", "responses", "callbacks"})


def document_security(
    app: FastAPI,
    schemes: Sequence[SecurityBase],
    authenticates: Callable[[object], bool],
) -> None:
    """Declare ``schemes`` (alternatives) on the operations whose dependencies reach one that
    ``authenticates``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        operations = document["paths"]
        for path, method in _authenticated_operations(app, authenticates):
            operation = operations.get(path, {}).get(method)
            if operation is not None:
                requirement: list[dict[str, list[str]]] = [{s.scheme_name: []} for s in schemes]
                operations[path][method] = _with_security(operation, requirement)
        document.setdefault("components", {})["securitySchemes"] = {
            scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
            for scheme in schemes
        }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
