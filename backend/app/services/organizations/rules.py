"""Better-Auth's rules for changing and removing members, as pure checks.

Transcribed from ``routes/crud-members.ts`` of Better-Auth 1.7.25 (``updateMemberRole``,
``removeMember``), in the order it applies them, so that the first rule a request breaks is
the one both servers name. Codes and messages are its ``ORGANIZATION_ERROR_CODES``; statuses
follow this API's conventions where Better-Auth's differ (documented in
``specs/003-fastapi-better-auth/organizations.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.access.control import Permissions
from app.services.organizations.access import OrgAccessControl, parse_role_list
from app.utils.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, invalid_field

# code -> message, as Better-Auth's ORGANIZATION_ERROR_CODES has them.
MESSAGES = {
    "ORGANIZATION_NOT_FOUND": "Organization not found",
    "MEMBER_NOT_FOUND": "Member not found",
    "NO_ACTIVE_ORGANIZATION": "No active organization",
    "ROLE_NOT_FOUND": "Role not found",
    "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION": "You are not a member of this organization",
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER": "You are not allowed to update this member",
    "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER": "You are not allowed to delete this member",
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER": (
        "You cannot leave the organization without an owner"
    ),
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER": (
        "You cannot leave the organization as the only owner"
    ),
}


def error(kind: type[AppError], code: str) -> AppError:
    return kind(MESSAGES[code], code=code)


def organization_not_found() -> AppError:
    return error(NotFound, "ORGANIZATION_NOT_FOUND")


def member_not_found() -> AppError:
    return error(NotFound, "MEMBER_NOT_FOUND")


def not_a_member() -> AppError:
    return error(Forbidden, "YOU_ARE_NOT_A_MEMBER_OF_THIS_ORGANIZATION")


@dataclass(frozen=True, slots=True)
class MemberChange:
    """What every rule about changing a member needs (rows of the same organization): both
    members' roles, and how many owners the organization has."""

    actor_role: str
    target_role: str
    owner_count: int


@dataclass(frozen=True, slots=True)
class RoleChange(MemberChange):
    """What update-member-role needs beyond that: who is who, and the roles asked for."""

    actor_member_id: str
    target_member_id: str
    requested: str | list[str]


def check_role_change(access: OrgAccessControl, change: RoleChange) -> list[str]:
    """The roles to store, or the error Better-Auth raises; the order is Better-Auth's.
    ``access`` is the organization's: with dynamic roles on, its role names are Better-Auth's
    ``validStaticRoles`` plus the organization's ``organizationRole`` names."""
    roles = parse_role_list(change.requested)
    if not roles:
        raise invalid_field(["body", "role"], "a role is required", code="ROLE_REQUIRED")
    owner = access.creator_role
    actor_is_owner = owner in parse_role_list(change.actor_role)
    target_is_owner = owner in parse_role_list(change.target_role)
    if (target_is_owner or owner in roles) and not actor_is_owner:
        # Only an owner can make an owner, or change what an owner is.
        raise error(Forbidden, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
    is_self = change.actor_member_id == change.target_member_id
    if actor_is_owner and is_self and change.owner_count <= 1 and owner not in roles:
        raise error(Conflict, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER")
    if not access.has_permission(change.actor_role, {"member": ["update"]}, allow_creator_all=True):
        raise error(Forbidden, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER")
    unknown = [role for role in roles if role not in access.role_names]
    if unknown:
        message = f"ROLE_NOT_FOUND: {', '.join(unknown)}"
        raise invalid_field(["body", "role"], message, code="ROLE_NOT_FOUND")
    return roles


@dataclass(frozen=True, slots=True)
class Removal(MemberChange):
    """What remove-member needs to decide: no more than any change."""


def check_removal(access: OrgAccessControl, removal: Removal) -> None:
    """remove-member's rules: only an owner removes an owner, never the last one; then
    ``member: ["delete"]`` (no owner shortcut here, as in Better-Auth)."""
    owner = access.creator_role
    if owner in parse_role_list(removal.target_role):
        if owner not in parse_role_list(removal.actor_role):
            # Better-Auth: 400 YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER; a refusal here.
            raise error(Forbidden, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER")
        if removal.owner_count <= 1:
            raise error(Conflict, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER")
    if not access.has_permission(removal.actor_role, {"member": ["delete"]}):
        raise error(Forbidden, "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER")


# The refusal Better-Auth gives for a missing permission, where one of its endpoints checks
# exactly that permission; anything else (an app's own resources) gets the generic code.
PERMISSION_CODES: dict[tuple[str, str], tuple[str, str]] = {
    ("organization", "update"): (
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        "You are not allowed to update this organization",
    ),
    ("organization", "delete"): (
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
        "You are not allowed to delete this organization",
    ),
    ("member", "update"): (
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
        MESSAGES["YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER"],
    ),
    ("member", "delete"): (
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        MESSAGES["YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER"],
    ),
    ("invitation", "create"): (
        "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
        "You are not allowed to invite users to this organization",
    ),
    ("invitation", "cancel"): (
        "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
        "You are not allowed to cancel this invitation",
    ),
    ("team", "create"): (
        "YOU_ARE_NOT_ALLOWED_TO_CREATE_TEAMS_IN_THIS_ORGANIZATION",
        "You are not allowed to create teams in this organization",
    ),
    ("team", "update"): (
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_TEAM",
        "You are not allowed to update this team",
    ),
    ("team", "delete"): (
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_TEAM",
        "You are not allowed to delete this team",
    ),
}


def permission_denied(permissions: Permissions) -> AppError:
    pairs = [(resource, action) for resource, actions in permissions.items() for action in actions]
    if len(pairs) == 1 and pairs[0] in PERMISSION_CODES:
        code, message = PERMISSION_CODES[pairs[0]]
        return Forbidden(message, code=code)
    wanted = "; ".join(f"{r}: {', '.join(a)}" for r, a in permissions.items())
    return Forbidden(
        f"requires the organization permission {wanted}", code="INSUFFICIENT_PERMISSION"
    )


def no_active_organization() -> AppError:
    return error(BadRequest, "NO_ACTIVE_ORGANIZATION")
