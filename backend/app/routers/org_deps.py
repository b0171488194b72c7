"""Organization dependencies for any route: ``require_org_member`` and
``require_org_permission({...})``, with the organization plugin's roles and statements.

Which organization: the ``organizationId`` path parameter, else the ``X-Organization-Id``
header, else the caller's session's ``activeOrganizationId`` (a session token's own session; a
JWT's session through its ``sid`` claim, when Better-Auth puts one in; otherwise none).
Nothing names one: 400 ``NO_ACTIVE_ORGANIZATION``.

Who is refused, and how: the answer never depends on whether an organization the caller does
not belong to exists, so probing ids reveals nothing.
- organization named in the **path** (the URL names the resource): a non-member gets 404
  ``ORGANIZATION_NOT_FOUND``, exactly as for an id that does not exist;
- organization from the **header** or the **active organization** (context, not the resource):
  403 ``YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION``, for a foreign and a missing id alike;
- a member lacking a permission: 403 with Better-Auth's code for that check (e.g.
  ``YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER``), else ``INSUFFICIENT_PERMISSION``.

Memberships come from the organization cache: a steady-state request makes no query. So do
the organization's roles: Better-Auth's static ones, merged with the organization's dynamic
ones (``organizationRole``) when ``ORGANIZATION_DYNAMIC_ROLES`` is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Literal

from fastapi import Depends, Header, Request

from app.routers.deps import DbSession, app_state, authenticates, get_principal
from app.services.access.scope import scope_grants
from app.services.auth.identity import Principal
from app.services.organizations.dynamic_roles import OrgRoleResolver
from app.services.organizations.memberships import MembershipResolver
from app.services.organizations.rules import (
    no_active_organization,
    not_a_member,
    organization_not_found,
    permission_denied,
)
from app.services.organizations.service import OrganizationService
from app.services.organizations.snapshots import Membership
from app.utils.errors import BadRequest

ORGANIZATION_HEADER = "X-Organization-Id"
PATH_PARAMETER = "organizationId"
Source = Literal["path", "header", "session"]


def caller_session_id(principal: Principal) -> str | None:
    if principal.session_id:
        return principal.session_id
    sid = (principal.claims or {}).get("sid")
    return sid if isinstance(sid, str) and sid else None


def memberships_of(request: Request) -> MembershipResolver:
    """The membership resolver, read from the app's services (no dependency resolution)."""
    state = app_state(request)
    return state.memberships(state.side_sessions)


def org_roles_of(request: Request) -> OrgRoleResolver:
    state = app_state(request)
    return state.org_roles(state.side_sessions)


async def get_memberships(request: Request) -> MembershipResolver:
    return memberships_of(request)


MembershipsDep = Annotated[MembershipResolver, Depends(get_memberships)]


async def get_org_roles(request: Request) -> OrgRoleResolver:
    return org_roles_of(request)


OrgRolesDep = Annotated[OrgRoleResolver, Depends(get_org_roles)]


async def _organization_id(
    request: Request, principal: Principal, memberships: MembershipResolver
) -> tuple[str, Source]:
    from_path = request.path_params.get(PATH_PARAMETER)
    if from_path:
        return str(from_path), "path"
    headers = request.headers.getlist(ORGANIZATION_HEADER)
    if len(headers) > 1:
        raise BadRequest(f"several {ORGANIZATION_HEADER} headers", code="BAD_REQUEST")
    if headers and headers[0].strip():
        return headers[0].strip(), "header"
    session_id = caller_session_id(principal)
    if session_id is not None:
        active = await memberships.active_organization(session_id, principal.user.id)
        if active:
            return active, "session"
    raise no_active_organization()


async def _membership(
    request: Request, principal: Principal, memberships: MembershipResolver
) -> Membership:
    organization_id, source = await _organization_id(request, principal, memberships)
    membership = await memberships.membership(principal.user.id, organization_id)
    if membership is None:
        raise organization_not_found() if source == "path" else not_a_member()
    return membership


# Declared (for the contract) by the dependencies that read it; ``_organization_id`` reads it.
OrganizationHeader = Annotated[
    str | None,
    Header(
        alias=ORGANIZATION_HEADER,
        description="The organization, when the path names none "
        "(default: the session's active organization)",
    ),
]


async def _caller_membership(request: Request) -> tuple[Membership, Principal]:
    principal = await get_principal(request)
    return await _membership(request, principal, memberships_of(request)), principal


# Each guard below is one FastAPI resolution: it authenticates (get_principal, once per
# request) and reads the resolvers itself rather than depending on CurrentPrincipal,
# MembershipsDep and OrgRolesDep (some 9 µs each; app.routers.deps).
@authenticates
async def require_org_member(
    request: Request, _organization: OrganizationHeader = None
) -> Membership:
    """The caller's membership of the organization this request is about."""
    return (await _caller_membership(request))[0]


@authenticates
async def require_org_member_in_path(request: Request) -> Membership:
    """As ``require_org_member`` for routes under ``/organizations/{organizationId}``."""
    return (await _caller_membership(request))[0]


OrgMember = Annotated[Membership, Depends(require_org_member)]
PathOrgMember = Annotated[Membership, Depends(require_org_member_in_path)]


def require_org_permission(
    permissions: Mapping[str, Sequence[str]],
    *,
    allow_creator_all: bool = False,
    from_path: bool = False,
) -> Callable[..., Awaitable[Membership]]:
    """Dependency factory: a member whose role (any one of its comma-joined roles) grants all
    of ``permissions``. ``allow_creator_all``: the owner passes whatever its statements say
    (Better-Auth does this for update-member-role only). With an API key that has permissions,
    the key must grant all of ``permissions`` too, by the same resource and action names
    (``app.services.access.scope``): the owner shortcut widens the member's role, never the key."""
    wanted = {resource: tuple(actions) for resource, actions in permissions.items()}
    if not wanted or not all(wanted.values()):
        raise ValueError("require_org_permission needs at least one action per resource")

    async def check(request: Request) -> Membership:
        membership, principal = await _caller_membership(request)
        access = await org_roles_of(request).access_for(membership.organization.id)
        granted = access.has_permission(
            membership.role, wanted, allow_creator_all=allow_creator_all
        )
        if not (granted and scope_grants(principal.api_key_scope, wanted)):
            raise permission_denied(wanted)
        return membership

    if from_path:

        async def path_dependency(request: Request) -> Membership:
            return await check(request)

        return authenticates(path_dependency)

    async def dependency(request: Request, _organization: OrganizationHeader = None) -> Membership:
        return await check(request)

    return authenticates(dependency)


async def get_organization_service(db: DbSession, request: Request) -> OrganizationService:
    return app_state(request).organization_service(db)


OrganizationsDep = Annotated[OrganizationService, Depends(get_organization_service)]
