"""Who belongs to which organization, with which role: cached, zero queries in steady state.

Built once per process (``app.state``); opens a database session only on a cache miss and
closes it right after the read, like authentication does.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select

from app.models.member import Member
from app.models.organization import Organization
from app.models.session import AuthSession
from app.services.auth.identity import DbSessionFactory
from app.services.auth.secondary import SecondarySessions
from app.services.organizations.cache import OrganizationCache
from app.services.organizations.snapshots import Membership, MemberSnapshot, OrganizationSnapshot


def _membership(member: Member, organization: Organization) -> Membership:
    return Membership(OrganizationSnapshot.of(organization), MemberSnapshot.of(member))


def _memberships(user_id: str, *where: ColumnElement[bool]) -> Select[Member, Organization]:
    """The user's memberships with their organizations, oldest first."""
    return (
        select(Member, Organization)
        .join(Organization, Member.organization_id == Organization.id)
        .where(Member.user_id == user_id, *where)
        .order_by(Member.created_at, Member.id)
    )


class MembershipResolver:
    def __init__(
        self,
        sessions: DbSessionFactory,
        cache: OrganizationCache,
        secondary: SecondarySessions | None = None,
    ) -> None:
        self._sessions = sessions
        self.cache = cache
        # Sessions in Better-Auth's secondary storage: the active organization is read there.
        self._secondary = secondary

    async def membership(self, user_id: str, organization_id: str) -> Membership | None:
        """The user's membership of the organization; None for a non-member and for an
        organization that does not exist (the caller cannot tell the two apart)."""
        cached = self.cache.get_membership(user_id, organization_id)
        if cached is not None:
            return cached.value
        generation = self.cache.begin_read()
        statement = _memberships(user_id, Member.organization_id == organization_id).limit(1)
        async with self._sessions() as db:
            row = (await db.execute(statement)).first()
        found = _membership(*row) if row is not None else None
        self.cache.put_membership(user_id, organization_id, found, generation)
        return found

    async def memberships_of(self, user_id: str) -> tuple[Membership, ...]:
        """All of the user's organizations (oldest membership first)."""
        cached = self.cache.get_memberships(user_id)
        if cached is not None:
            return cached.value
        generation = self.cache.begin_read()
        async with self._sessions() as db:
            rows = (await db.execute(_memberships(user_id))).all()
        found = tuple(_membership(member, organization) for member, organization in rows)
        self.cache.put_memberships(user_id, found, generation)
        return found

    async def active_organization(self, session_id: str, user_id: str) -> str | None:
        """``session.activeOrganizationId`` (None: unset, or no such session of the user)."""
        if self._secondary is not None and not self._secondary.mode.database_fallback:
            return await self._secondary.active_organization(session_id, user_id)
        if self._secondary is not None:
            stored = await self._secondary.by_id(session_id, user_id)
            if stored is not None:
                return stored.active_organization_id
        cached = self.cache.get_active_organization(session_id)
        if cached is not None:
            return cached.value
        generation = self.cache.begin_read()
        statement = select(AuthSession.active_organization_id).where(AuthSession.id == session_id)
        async with self._sessions() as db:
            active = await db.scalar(statement)
        self.cache.put_active_organization(session_id, active, generation)
        return active
