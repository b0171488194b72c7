"""JSON bytes for the hottest responses, rendered from the identity cache's snapshots.

Routers turn the services' domain types into schemas; for the per-request ``/me`` endpoints and
the user list, that rendering is cached per immutable snapshot instead of repeated.
"""

from __future__ import annotations

from functools import lru_cache

from app.schemas.user import UserRead
from app.services.auth.snapshots import UserSnapshot


@lru_cache(maxsize=16_384)
def render_user(user: UserSnapshot) -> bytes:
    """``UserRead`` JSON of a snapshot, rendered once per snapshot.

    Snapshots are immutable and a changed row is a new snapshot, so the bytes can be reused for
    as long as the identity cache hands out the same snapshot: the hot ``/me`` endpoints then
    skip two model round trips per request.
    """
    return UserRead.model_validate(user).model_dump_json().encode()


def render_user_page(users: list[UserSnapshot], *, total: int, limit: int, offset: int) -> bytes:
    """``UserPage`` JSON assembled from the per-snapshot renderings (same bytes as
    ``UserPage.model_dump_json()``, without validating twenty users twice per request)."""
    return b"".join(
        (
            b'{"users":[',
            b",".join(render_user(user) for user in users),
            f'],"total":{total},"limit":{limit},"offset":{offset}}}'.encode(),
        )
    )
