"""``/api/v1/organizations``: the caller's organizations and their members, with the
organization plugin's rules. Thin: parse, call, return."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.routers.deps import AuditContextDep, CurrentPrincipal, CurrentUser
from app.routers.org_deps import (
    MembershipsDep,
    OrganizationsDep,
    OrgRolesDep,
    PathOrgMember,
    caller_session_id,
    require_org_permission,
)
from app.routers.responses import no_content, problem_responses
from app.schemas.access import PermissionResult
from app.schemas.base import InputText
from app.schemas.organization import (
    MemberPage,
    MemberRead,
    MemberRoleUpdate,
    MemberUserRead,
    MemberWithUserRead,
    OrganizationList,
    OrganizationRead,
    OrgPermissionCheck,
)
from app.services.access.scope import scope_grants
from app.services.organizations.service import MemberListQuery
from app.services.organizations.snapshots import Membership, MemberSnapshot, MemberWithUser

router = APIRouter(
    prefix="/organizations",
    tags=["organizations"],
    responses=problem_responses(401, 403, 422, 503),
)

OrganizationId = Annotated[InputText, Path(alias="organizationId", max_length=255)]
MemberId = Annotated[InputText, Path(alias="memberId", max_length=255)]
CanUpdateMembers = Annotated[
    Membership,
    Depends(require_org_permission({"member": ["update"]}, allow_creator_all=True, from_path=True)),
]
CanDeleteMembers = Annotated[
    Membership, Depends(require_org_permission({"member": ["delete"]}, from_path=True))
]
# Who may ask about another member: who may change members' roles (update-member-role's check).
CanManageMembers = CanUpdateMembers


def _organization(membership: Membership) -> OrganizationRead:
    # The organization's own fields, and the caller's membership of it.
    return OrganizationRead(
        **asdict(membership.organization), role=membership.role, member_id=membership.member.id
    )


def _member(member: MemberSnapshot) -> MemberRead:
    return MemberRead.model_validate(member, from_attributes=True)


def _member_with_user(row: MemberWithUser) -> MemberWithUserRead:
    return MemberWithUserRead(
        **_member(row.member).model_dump(),
        user=MemberUserRead.model_validate(row.user, from_attributes=True),
    )


@router.get("", summary="My organizations, each with my role")
async def list_my_organizations(user: CurrentUser, memberships: MembershipsDep) -> OrganizationList:
    mine = await memberships.memberships_of(user.id)
    return OrganizationList(organizations=[_organization(m) for m in mine])


@router.get(
    "/{organizationId}",
    summary="One organization (members only)",
    responses=problem_responses(404),
)
async def get_organization(
    organization_id: OrganizationId, membership: PathOrgMember
) -> OrganizationRead:
    return _organization(membership)


@router.get(
    "/{organizationId}/members",
    summary="Members of an organization (members only)",
    responses=problem_responses(404),
)
async def list_members(
    organization_id: OrganizationId,
    membership: PathOrgMember,
    organizations: OrganizationsDep,
    search: Annotated[
        InputText | None,
        Query(max_length=256, description="Case-insensitive, in the user's name or e-mail"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> MemberPage:
    members, total = await organizations.list_members(
        membership.organization.id, MemberListQuery(search=search, limit=limit, offset=offset)
    )
    return MemberPage(
        members=[_member_with_user(m) for m in members], total=total, limit=limit, offset=offset
    )


@router.patch(
    "/{organizationId}/members/{memberId}",
    summary="Change a member's role (needs member: update)",
    responses=problem_responses(404, 409, 500),
)
async def update_member_role(
    organization_id: OrganizationId,
    member_id: MemberId,
    body: MemberRoleUpdate,
    membership: CanUpdateMembers,
    organizations: OrganizationsDep,
    context: AuditContextDep,
) -> MemberRead:
    member = await organizations.update_member_role(
        context, membership.organization.id, member_id, body.role
    )
    return _member(member)


@router.delete(
    "/{organizationId}/members/{memberId}",
    summary="Remove a member (needs member: delete)",
    **no_content(404, 409, 500),
)
async def remove_member(
    organization_id: OrganizationId,
    member_id: MemberId,
    membership: CanDeleteMembers,
    organizations: OrganizationsDep,
    context: AuditContextDep,
    principal: CurrentPrincipal,
) -> None:
    await organizations.remove_member(
        context,
        membership.organization.id,
        member_id,
        actor_session_id=caller_session_id(principal),
    )


@router.post(
    "/{organizationId}/has-permission",
    summary="Do I hold these permissions in this organization?",
    description="Better-Auth's `/organization/has-permission` for the caller's membership: "
    "every action of every resource granted by any one of the caller's roles (comma-joined "
    "roles are tried one by one; the creator role has no shortcut here), with the "
    "organization's dynamic roles merged in when `ORGANIZATION_DYNAMIC_ROLES` is on. With an "
    "API key that has `permissions`, granted by the key too. A non-member gets 404, as for an "
    "organization that does not exist.",
    response_model=PermissionResult,
    responses=problem_responses(404, 500),
)
async def has_permission(
    organization_id: OrganizationId,
    body: OrgPermissionCheck,
    membership: PathOrgMember,
    principal: CurrentPrincipal,
    roles: OrgRolesDep,
) -> PermissionResult:
    access = await roles.access_for(membership.organization.id)
    granted = access.has_permission(membership.role, body.permissions) and scope_grants(
        principal.api_key_scope, body.permissions
    )
    return PermissionResult(success=granted)


@router.post(
    "/{organizationId}/members/{memberId}/has-permission",
    summary="Does this member hold these permissions? (needs member: update)",
    description="The same question as `/has-permission`, about another member of the "
    "organization (what Better-Auth lacks, better-auth#11096), decided exactly as Better-Auth "
    "would decide it for that member's own session. Asked by those who may change members' "
    "roles: `member: update` (or the creator role), as update-member-role requires. The "
    "caller's API key must grant `member: update`; it does not narrow the answer, which is "
    "about the member's roles. A member of another organization is 404 `MEMBER_NOT_FOUND`.",
    response_model=PermissionResult,
    responses=problem_responses(404, 500),
)
async def member_has_permission(
    organization_id: OrganizationId,
    member_id: MemberId,
    body: OrgPermissionCheck,
    membership: CanManageMembers,
    organizations: OrganizationsDep,
    roles: OrgRolesDep,
) -> PermissionResult:
    member = await organizations.get_member(membership.organization.id, member_id)
    access = await roles.access_for(membership.organization.id)
    return PermissionResult(success=access.has_permission(member.role, body.permissions))
