"""The API with "your own endpoint" added, as the tutorial adds one
(``docs/guides/your-own-endpoint.md``): an ``APIRouter`` of ``async def`` handlers, guarded by
the app's dependencies, included with the API's prefix. Served by ``bench.run --own`` beside
``bench.peers.bare_own`` (the same handler in a bare FastAPI app).

Every handler answers ``{"id": ..., "items": [1, 2, 3]}``:

- ``/api/v1/own/open``: no authentication;
- ``/api/v1/own/user``: ``user: CurrentUser`` (whatever the credential: JWT, session token);
- ``/api/v1/own/permitted``: ``require_permission({"user": ["list"]})`` (the admin passes);
- ``/api/v1/own/first``: no authentication, its router included *before* all of the API's
  routes (``/open``'s is included after all of them: the route matched last).

``BENCH_FAST_PATHS=off`` takes ``FastPaths`` out: ``/api/v1/users/me`` is then routed.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI

from app.main import API_PREFIX, create_app
from app.routers.deps import CurrentUser, require_permission
from app.routers.fast_path import FastPaths
from app.services.auth.snapshots import UserSnapshot

ITEMS = [1, 2, 3]
CanListUsers = Annotated[UserSnapshot, Depends(require_permission({"user": ["list"]}))]

router = APIRouter(tags=["own"])


@router.get("/own/open")
async def own_open() -> dict[str, Any]:
    return {"id": "anonymous", "items": ITEMS}


@router.get("/own/user")
async def own_user(user: CurrentUser) -> dict[str, Any]:
    return {"id": user.id, "items": ITEMS}


@router.get("/own/permitted")
async def own_permitted(user: CanListUsers) -> dict[str, Any]:
    return {"id": user.id, "items": ITEMS}


first_router = APIRouter(tags=["own"])


@first_router.get("/own/first")
async def own_first() -> dict[str, Any]:
    return {"id": "anonymous", "items": ITEMS}


def build() -> FastAPI:
    app = create_app()
    # After every route of the project (health, metrics, documentation, admin console too).
    app.include_router(router, prefix=API_PREFIX)
    # Before all of them: included, then moved to the front of the app's route list.
    app.include_router(first_router, prefix=API_PREFIX)
    app.router.routes.insert(0, app.router.routes.pop())
    if os.environ.get("BENCH_FAST_PATHS") == "off":
        app.user_middleware = [m for m in app.user_middleware if m.cls is not FastPaths]
    return app


app = build()
