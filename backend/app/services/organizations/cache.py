"""In-process cache of memberships and active organizations (the organization hot path).

It works like the identity cache (``app.services.auth.identity_cache``): correctness rests on
invalidation, not expiry. Revision 0007's triggers send, on the identity channel:

- ``m:<userId>`` for any insert, update or delete of a ``member`` row of that user;
- ``o:<organizationId>`` for any update or delete of an ``organization`` row;
- ``a:<sessionId>`` when a session's ``activeOrganizationId`` changes (``s:<sessionId>``, sent
  when a session is deleted, is honoured too);
- ``r:<organizationId>`` (revision 0009) for any insert, update or delete of an
  ``organizationRole`` row: the organization's dynamic roles.

The listener (``app.services.auth.invalidation``) hands every notice to :meth:`notice`. While the
feed is down (or on SQLite) entries older than ``fallback_ttl`` are ignored; a reconnect
flushes everything. Non-membership is cached too, so a refused caller costs no query either.
A read that began before an invalidation does not store its (possibly stale) result.
"""

from __future__ import annotations

from typing import TypeVar

from app.services.organizations.access import OrgAccessControl
from app.services.organizations.snapshots import Membership
from app.services.platform.feed_cache import Entry, FeedCache, FeedTable

V = TypeVar("V")
K = TypeVar("K")

__all__ = ["Entry", "OrganizationCache"]


class OrganizationCache(FeedCache):
    def _create_tables(self) -> None:
        # (userId, organizationId) -> the membership, or None: not a member (or no such org).
        self._memberships: FeedTable[tuple[str, str], Membership | None] = self._table()
        # userId -> all of the user's memberships.
        self._lists: FeedTable[str, tuple[Membership, ...]] = self._table()
        # sessionId -> activeOrganizationId.
        self._active: FeedTable[str, str | None] = self._table()
        # organizationId -> its roles, static merged with dynamic (dynamic access control only).
        self._roles: FeedTable[str, OrgAccessControl] = self._table()

    def _get(self, table: FeedTable[K, V], key: K) -> Entry[V] | None:
        return self._lookup(table.rows.get(key))

    def _put(self, table: FeedTable[K, V], key: K, value: V, generation: int) -> None:
        if self.enabled and generation == self._generation:
            table.put(key, self._entry(value))

    # --- reads: None is a miss; an Entry's value may itself be None (cached absence) ---

    def get_membership(self, user_id: str, organization_id: str) -> Entry[Membership | None] | None:
        return self._get(self._memberships, (user_id, organization_id))

    def get_memberships(self, user_id: str) -> Entry[tuple[Membership, ...]] | None:
        return self._get(self._lists, user_id)

    def get_active_organization(self, session_id: str) -> Entry[str | None] | None:
        return self._get(self._active, session_id)

    def get_roles(self, organization_id: str) -> Entry[OrgAccessControl] | None:
        return self._get(self._roles, organization_id)

    def put_roles(self, organization_id: str, value: OrgAccessControl, generation: int) -> None:
        self._put(self._roles, organization_id, value, generation)

    def put_membership(
        self, user_id: str, organization_id: str, value: Membership | None, generation: int
    ) -> None:
        self._put(self._memberships, (user_id, organization_id), value, generation)

    def put_memberships(self, user_id: str, value: tuple[Membership, ...], generation: int) -> None:
        self._put(self._lists, user_id, value, generation)

    def put_active_organization(
        self, session_id: str, organization_id: str | None, generation: int
    ) -> None:
        self._put(self._active, session_id, organization_id, generation)

    # --- invalidation ---

    def evict_user(self, user_id: str) -> None:
        self._bump()
        self._lists.rows.pop(user_id, None)
        for key in [key for key in self._memberships.rows if key[0] == user_id]:
            del self._memberships.rows[key]

    def evict_roles(self, organization_id: str) -> None:
        self._bump()
        self._roles.rows.pop(organization_id, None)

    def evict_organization(self, organization_id: str) -> None:
        self._bump()
        self._roles.rows.pop(organization_id, None)
        for key in [key for key in self._memberships.rows if key[1] == organization_id]:
            del self._memberships.rows[key]
        for user_id, entry in list(self._lists.rows.items()):
            if any(m.organization.id == organization_id for m in entry.value):
                del self._lists.rows[user_id]

    def evict_session(self, session_id: str) -> None:
        self._bump()
        self._active.rows.pop(session_id, None)

    def _clear(self) -> None:
        self._memberships.rows.clear()
        self._lists.rows.clear()
        self._active.rows.clear()
        self._roles.rows.clear()

    # --- the invalidation feed (NoticeSubscriber; feed_up/feed_down/flush are FeedCache's) ---

    def notice(self, kind: str, row_id: str) -> bool:
        """Apply one notice; True when it was one of ours."""
        if kind == "m":
            self.evict_user(row_id)
        elif kind == "o":
            self.evict_organization(row_id)
        elif kind == "r":
            self.evict_roles(row_id)
        elif kind in ("a", "s"):
            self.evict_session(row_id)
            return kind == "a"
        else:
            return False
        return True

    def stats(self) -> dict[str, object]:
        return {
            "live": self.live,
            "memberships": len(self._memberships.rows),
            "lists": len(self._lists.rows),
            "activeOrganizations": len(self._active.rows),
            "organizationRoles": len(self._roles.rows),
            "hits": self.hits,
            "misses": self.misses,
        }
