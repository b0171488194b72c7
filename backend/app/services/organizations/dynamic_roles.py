"""Dynamic organization roles (the organization plugin's ``dynamicAccessControl``): the roles
of one organization, as Better-Auth 1.7.25 decides them (``has-permission.ts``).

With dynamic access control on (``ORGANIZATION_DYNAMIC_ROLES``), Better-Auth's ``hasPermission``
reads every ``organizationRole`` row of the organization at each check and, for each row:

- parses ``permission`` (``JSON.parse``) and checks it is ``{resource: [action, ...]}``
  (``z.record(z.string(), z.array(z.string()))``); a row that is not fails the whole check with
  500 ``Invalid permissions for role <name>`` (here: 500 ``INVALID_ROLE_PERMISSIONS``, nothing
  granted);
- merges it into the static role of the same name (the union of actions per resource), or makes
  it a role of its own.

Then the check is the static one (``hasPermissionFn``) over those roles. Off, the table is not
read at all, as Better-Auth does not read it either.

Here the merged roles of an organization are cached (``OrganizationCache``) and forgotten on the
``r:<organizationId>`` notice of revision 0009's trigger, so a role created, changed or deleted
through Better-Auth is honoured by every process as soon as the notice arrives (within the
fallback TTL while the feed is down, or on SQLite).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.organization_role import OrganizationRole
from app.services.auth.identity import DbSessionFactory
from app.services.organizations.access import OrgAccessControl
from app.services.organizations.cache import OrganizationCache
from app.utils.errors import AppError

logger = logging.getLogger(__name__)

Statements = Mapping[str, Sequence[str]]


INVALID_ROLE_PERMISSIONS = "INVALID_ROLE_PERMISSIONS"


class InvalidRolePermissions(AppError):
    """A stored ``organizationRole.permission`` that Better-Auth itself would refuse to use
    (status 500, as there: the data is wrong, not the request)."""


def parse_permission(role: str, stored: str) -> Statements:
    """``JSON.parse`` then the ``rolePermissionsSchema`` check; raises ``InvalidRolePermissions``
    with Better-Auth's message."""
    try:
        value = json.loads(stored)
    except (TypeError, ValueError):
        value = None
    valid = isinstance(value, dict) and all(
        isinstance(actions, list) and all(isinstance(a, str) for a in actions)
        for actions in value.values()
    )
    if not valid:
        # The row is Better-Auth's data, not the caller's input: logged for the operator.
        logger.error("organizationRole %r has invalid permissions", role)
        raise InvalidRolePermissions(
            f"Invalid permissions for role {role}", code=INVALID_ROLE_PERMISSIONS
        )
    return value  # type: ignore[no-any-return]


async def load_dynamic_roles(
    db: AsyncSession, organization_id: str
) -> list[tuple[str, Statements]]:
    """The organization's ``organizationRole`` rows, parsed (in id order: the union they make
    does not depend on it)."""
    rows = await db.execute(
        select(OrganizationRole.role, OrganizationRole.permission)
        .where(OrganizationRole.organization_id == organization_id)
        .order_by(OrganizationRole.id)
    )
    return [(role, parse_permission(role, permission)) for role, permission in rows]


async def access_in_transaction(
    db: AsyncSession, access: OrgAccessControl, organization_id: str, *, dynamic: bool
) -> OrgAccessControl:
    """The organization's roles read in ``db``'s transaction (writes that must not act on a
    cached view)."""
    if not dynamic:
        return access
    return access.with_dynamic_roles(await load_dynamic_roles(db, organization_id))


class OrgRoleResolver:
    """The roles of an organization: the static ones, merged with its dynamic ones when enabled.
    Cached; a database session is opened only on a cache miss."""

    def __init__(
        self,
        sessions: DbSessionFactory,
        cache: OrganizationCache,
        access: OrgAccessControl,
        *,
        dynamic: bool,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._access = access
        self.dynamic = dynamic

    async def access_for(self, organization_id: str) -> OrgAccessControl:
        if not self.dynamic:
            return self._access
        cached = self._cache.get_roles(organization_id)
        if cached is not None:
            return cached.value
        generation = self._cache.begin_read()
        async with self._sessions() as db:
            rows = await load_dynamic_roles(db, organization_id)
        found = self._access.with_dynamic_roles(rows)
        self._cache.put_roles(organization_id, found, generation)
        return found
