"""JSON bytes for the hottest responses, rendered from the identity cache's snapshots.

Routers turn the services' domain types into schemas; for the per-request ``/me`` endpoints and
the user list, that rendering is cached per user instead of repeated.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from app.schemas.user import UserRead
from app.services.auth.snapshots import UserSnapshot

RENDERED_USERS_MAX: Final = 16_384


class RenderedUsers:
    """``UserRead`` JSON of each user's latest snapshot, by user id, least recently used out.

    Snapshots are immutable and a changed row is a new snapshot, so the bytes can be reused for
    as long as the identity cache hands out the same snapshot (or the list reads an equal one):
    the hot endpoints then skip two model round trips per user. Keyed by user id, not by
    snapshot: a user changed a thousand times holds one entry, not a thousand (memory follows
    the number of users, not the number of writes).
    """

    def __init__(self, max_users: int = RENDERED_USERS_MAX) -> None:
        self.max_users = max_users
        self._entries: OrderedDict[str, tuple[UserSnapshot, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def render(self, user: UserSnapshot) -> bytes:
        entry = self._entries.get(user.id)
        if entry is not None and (entry[0] is user or entry[0] == user):
            self._entries.move_to_end(user.id)
            return entry[1]
        body = UserRead.model_validate(user).model_dump_json().encode()
        self._entries[user.id] = (user, body)
        self._entries.move_to_end(user.id)
        if len(self._entries) > self.max_users:
            self._entries.popitem(last=False)
        return body


RENDERED_USERS: Final = RenderedUsers()
render_user: Final = RENDERED_USERS.render


def render_user_page(users: list[UserSnapshot], *, total: int, limit: int, offset: int) -> bytes:
    """``UserPage`` JSON assembled from the per-user renderings (same bytes as
    ``UserPage.model_dump_json()``, without validating twenty users twice per request)."""
    return b"".join(
        (
            b'{"users":[',
            b",".join(render_user(user) for user in users),
            f'],"total":{total},"limit":{limit},"offset":{offset}}}'.encode(),
        )
    )
