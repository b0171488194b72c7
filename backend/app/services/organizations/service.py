"""Members of an organization: listing, role changes and removal with Better-Auth's rules.

Each write ends with its own commit, with its audit event in the same transaction. Writes lock
the organization row first (``SELECT ... FOR UPDATE`` on PostgreSQL), so two changes to one
organization's members run one after the other: two owners demoting themselves at the same
moment cannot leave it without an owner. After the commit this process's cache forgets the
member; other processes learn of the change from the ``member`` trigger's notice, and
Better-Auth reads the row itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.member import Member
from app.models.organization import Organization
from app.models.session import AuthSession
from app.models.team import Team
from app.models.team_member import TeamMember
from app.models.user import User
from app.services.audit.service import AuditContext, AuditService
from app.services.auth.secondary import SecondarySessions
from app.services.organizations.access import OrgAccessControl, join_roles, parse_role_list
from app.services.organizations.cache import OrganizationCache
from app.services.organizations.dynamic_roles import access_in_transaction
from app.services.organizations.rules import (
    Removal,
    RoleChange,
    check_removal,
    check_role_change,
    member_not_found,
    organization_not_found,
)
from app.services.organizations.snapshots import MemberSnapshot, MemberUser, MemberWithUser
from app.services.users.query import escape_like

_LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class MemberListQuery:
    search: str | None = None
    limit: int = 20
    offset: int = 0


class OrganizationService:
    def __init__(
        self,
        db: AsyncSession,
        *,
        access: OrgAccessControl,
        cache: OrganizationCache,
        secondary: SecondarySessions | None = None,
        dynamic_roles: bool = False,
    ) -> None:
        self._db = db
        self._access = access
        self._dynamic_roles = dynamic_roles
        self._cache = cache
        self._secondary = secondary  # sessions in Better-Auth's secondary storage
        self._audit = AuditService(db)

    # --- reads ---

    async def list_members(
        self, organization_id: str, query: MemberListQuery
    ) -> tuple[list[MemberWithUser], int]:
        conditions = [Member.organization_id == organization_id]
        if query.search:
            pattern = f"%{escape_like(query.search)}%"
            conditions.append(
                User.email.ilike(pattern, escape=_LIKE_ESCAPE)
                | User.name.ilike(pattern, escape=_LIKE_ESCAPE)
            )
        page = (
            select(Member, User)
            .join(User, Member.user_id == User.id)
            .where(*conditions)
            .order_by(Member.created_at, Member.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = (await self._db.execute(page)).all()
        total = await self._db.scalar(
            select(func.count())
            .select_from(Member)
            .join(User, Member.user_id == User.id)
            .where(*conditions)
        )
        await self._db.commit()  # hand the connection back before rendering
        members = [
            MemberWithUser(
                MemberSnapshot.of(member), MemberUser(user.id, user.name, user.email, user.image)
            )
            for member, user in rows
        ]
        return members, int(total or 0)

    async def get_member(self, organization_id: str, member_id: str) -> MemberSnapshot:
        """One member of the organization, read now (404 ``MEMBER_NOT_FOUND`` otherwise)."""
        target = await self._target(organization_id, member_id)
        snapshot = MemberSnapshot.of(target)
        await self._db.commit()  # hand the connection back before rendering
        return snapshot

    # --- writes ---

    async def update_member_role(
        self,
        context: AuditContext,
        organization_id: str,
        member_id: str,
        requested: str | list[str],
    ) -> MemberSnapshot:
        actor = await self._lock(organization_id, context.actor_id)
        target = await self._target(organization_id, member_id)
        roles = check_role_change(
            await self._roles(organization_id),
            RoleChange(
                actor_member_id=actor.id,
                actor_role=actor.role,
                target_member_id=target.id,
                target_role=target.role,
                requested=requested,
                owner_count=await self._owner_count(organization_id),
            ),
        )
        stored = join_roles(roles)
        before = target.role
        if stored != before:
            target.role = stored
            self._audit.record(
                context,
                "organization.member.role.set",
                target.user_id,
                {
                    "organizationId": organization_id,
                    "memberId": target.id,
                    "before": {"role": before},
                    "after": {"role": stored},
                },
            )
        snapshot = MemberSnapshot.of(target)
        await self._commit(target.user_id)
        return snapshot

    async def remove_member(
        self,
        context: AuditContext,
        organization_id: str,
        member_id: str,
        *,
        actor_session_id: str | None = None,
    ) -> None:
        actor = await self._lock(organization_id, context.actor_id)
        target = await self._target(organization_id, member_id)
        check_removal(
            await self._roles(organization_id),
            Removal(
                actor_role=actor.role,
                target_role=target.role,
                owner_count=await self._owner_count(organization_id),
            ),
        )
        # Better-Auth's deleteMember (teams enabled): the user's team memberships in this
        # organization go too, and each team's memberCount gives the seats back.
        teams = select(Team.id).where(Team.organization_id == organization_id)
        removed_from = (
            await self._db.scalars(
                delete(TeamMember)
                .where(TeamMember.user_id == target.user_id, TeamMember.team_id.in_(teams))
                .returning(TeamMember.team_id)
            )
        ).all()
        for team_id in set(removed_from):
            count = removed_from.count(team_id)
            await self._db.execute(
                update(Team)
                .where(Team.id == team_id, Team.member_count >= count)
                .values(member_count=Team.member_count - count)
            )
        await self._db.execute(delete(Member).where(Member.id == target.id))
        if actor_session_id is not None and target.user_id == context.actor_id:
            await self._leave_active(actor_session_id, target.user_id, organization_id)
        self._audit.record(
            context,
            "organization.member.remove",
            target.user_id,
            {
                "organizationId": organization_id,
                "memberId": target.id,
                "before": {"role": target.role},
                "teamsLeft": sorted(set(removed_from)),
            },
        )
        await self._commit(target.user_id)

    # --- helpers ---

    async def _roles(self, organization_id: str) -> OrgAccessControl:
        """The organization's roles, its dynamic ones read under the organization's lock (a
        role Better-Auth just deleted must not decide a write)."""
        return await access_in_transaction(
            self._db, self._access, organization_id, dynamic=self._dynamic_roles
        )

    async def _leave_active(self, session_id: str, user_id: str, organization_id: str) -> None:
        """As Better-Auth does when members remove themselves: the session forgets the org
        (``updateSession``: in its secondary storage, and in the table when it keeps rows)."""
        if self._secondary is not None:
            stored = await self._secondary.storage.find_by_id(user_id, session_id)
            if stored is not None and stored.active_organization_id == organization_id:
                changes = {"activeOrganizationId": None}
                await self._secondary.storage.update_session(stored.token, changes)
                self._secondary.forget_user(user_id)
            if not self._secondary.mode.store_in_database:
                return
        await self._db.execute(
            update(AuthSession)
            .where(
                AuthSession.id == session_id,
                AuthSession.active_organization_id == organization_id,
            )
            .values(active_organization_id=None)
        )
        self._cache.evict_session(session_id)

    async def _lock(self, organization_id: str, user_id: str) -> Member:
        """Lock the organization and return the actor's membership, read under the lock (the
        dependency's cached view may be a moment old)."""
        locked = await self._db.scalar(
            select(Organization.id).where(Organization.id == organization_id).with_for_update()
        )
        if locked is None:
            raise organization_not_found()
        actor = (
            await self._db.scalars(
                select(Member)
                .where(Member.organization_id == organization_id, Member.user_id == user_id)
                .order_by(Member.created_at, Member.id)
                .limit(1)
                .execution_options(populate_existing=True)
            )
        ).first()
        if actor is None:
            raise organization_not_found()
        return actor

    async def _target(self, organization_id: str, member_id: str) -> Member:
        target = (
            await self._db.scalars(
                select(Member)
                .where(Member.id == member_id)
                .execution_options(populate_existing=True)
            )
        ).first()
        if target is None or target.organization_id != organization_id:
            # Also for a member of another organization: its existence is not revealed.
            raise member_not_found()
        return target

    async def _owner_count(self, organization_id: str) -> int:
        owner = self._access.creator_role
        roles = await self._db.scalars(
            select(Member.role).where(
                Member.organization_id == organization_id,
                Member.role.like(f"%{escape_like(owner)}%", escape=_LIKE_ESCAPE),
            )
        )
        return sum(1 for role in roles if owner in parse_role_list(role))

    async def _commit(self, user_id: str) -> None:
        await self._db.commit()
        self._cache.evict_user(user_id)
