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
    PathOrgMember,
    caller_session_id,
    require_org_permission,
)
from app.routers.responses import no_content, problem_responses
from app.schemas.base import InputText
from app.schemas.organization import (
    MemberPage,
    MemberRead,
    MemberRoleUpdate,
    MemberUserRead,
    MemberWithUserRead,
    OrganizationList,
    OrganizationRead,
)
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
    responses=problem_responses(404, 409),
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
    **no_content(404, 409),
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
