"""The last-admin guard: no admin action may leave the service without an active admin.

Admin-set changes that take admin power away (demote, ban, remove) lock the admin rows first
(``SELECT ... FOR UPDATE``, in id order, on PostgreSQL). Two admins demoting each other at the
same moment are therefore serialised: the second sees the first's change, finds it no longer
holds the permission it acts with, and is refused — the set of admins never becomes empty.

"Admin" means a role in ``ADMIN_ROLES`` (Better-Auth's ``adminRoles``) and no active ban; what an
actor may do is the access control's business, re-checked under the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.user import User
from app.services.access import AccessControl, Requirement
from app.services.access.guard import ensure, refusal
from app.services.audit.service import AuditContext
from app.services.auth.identity import is_ban_active
from app.services.users.query import has_role
from app.services.users.roles import has_any_role
from app.utils.errors import Conflict, NotFound


async def load_user(db: AsyncSession, user_id: str, *, for_update: bool = False) -> User:
    statement = select(User).where(User.id == user_id)
    if for_update:
        # Re-read under the lock even if this user is already loaded in the session.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    user = (await db.scalars(statement)).one_or_none()
    if user is None:
        raise NotFound("no such user", code="USER_NOT_FOUND")
    return user


class AdminGuard:
    def __init__(
        self,
        db: AsyncSession,
        *,
        admin_roles: Iterable[str],
        access: AccessControl,
        now: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._admin_roles = tuple(admin_roles)
        self._access = access
        self._now = now

    def counts_as_admin(self, user: User) -> bool:
        return has_any_role(user.role, self._admin_roles) and not is_ban_active(user, self._now())

    async def lock_target(
        self, context: AuditContext, target_id: str, verb: str, requirement: Requirement
    ) -> User:
        """Lock and return the target (never the actor: callers refuse self-actions first) of
        an action that takes admin power away from it; never the last admin (409).

        The common case, a target who is not an admin, cannot empty the admin set: the target
        row is read once, locked, and nothing else is locked, so admin writes about ordinary
        users do not queue behind one another. Lock order is always "admin rows (by id), then
        the target" or "the target alone", never the reverse, so two such actions cannot
        deadlock: a target found to be an admin is given back (its lock was taken inside a
        savepoint, and rolling that back releases it) before the admin rows are locked.
        """
        savepoint = await self._db.begin_nested()
        try:
            target = await load_user(self._db, target_id, for_update=True)
        except NotFound:
            await savepoint.rollback()
            raise
        if not self.counts_as_admin(target):
            await savepoint.commit()
            return target
        await savepoint.rollback()
        admins = await self._lock_admins()
        await self._recheck_actor(context, requirement)
        if admins <= {target_id}:
            raise Conflict(f"the last admin cannot be {verb}", code="LAST_ADMIN")
        return await load_user(self._db, target_id, for_update=True)

    async def _lock_admins(self) -> set[str]:
        now = self._now()
        active = or_(
            User.banned.is_(None),
            User.banned.is_(false()),
            and_(User.ban_expires.is_not(None), User.ban_expires <= now),
        )
        statement = (
            select(User.id)
            .where(or_(*(has_role(role) for role in self._admin_roles)), active)
            .order_by(User.id)
            .with_for_update()
        )
        return set((await self._db.scalars(statement)).all())

    async def _recheck_actor(self, context: AuditContext, requirement: Requirement) -> None:
        """The actor may have been demoted or banned after authenticating (by a concurrent
        request that held the admin rows first): decide again on the row as it is now."""
        try:
            actor = await load_user(self._db, context.actor_id, for_update=True)
        except NotFound:
            actor = None
        if actor is None or is_ban_active(actor, self._now()):
            raise refusal(requirement)
        ensure(self._access, actor.id, actor.role, requirement)
