"""What each admin action requires, and the error Better-Auth answers when it is missing.

One entry per check in Better-Auth 1.7.25's ``plugins/admin/routes.ts``; codes and messages
are its ``ADMIN_ERROR_CODES``, so a frontend handles a refusal from either server the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.services.access.control import Permissions


@dataclass(frozen=True, slots=True)
class Requirement:
    permissions: Permissions
    code: str
    message: str


def _requirement(resource: str, action: str, code: str, message: str) -> Requirement:
    return Requirement({resource: (action,)}, code, message)


def _not_allowed(resource: str, action: str, what: str, *, code: str | None = None) -> Requirement:
    """Better-Auth's usual pair: ``You are not allowed to <what>`` and its upper-snake code
    (``YOU_ARE_NOT_ALLOWED_TO_<WHAT>``), unless ``code`` names the code's end otherwise."""
    suffix = code or what.upper().replace(" ", "_")
    return _requirement(
        resource, action, f"YOU_ARE_NOT_ALLOWED_TO_{suffix}", f"You are not allowed to {what}"
    )


LIST_USERS = _not_allowed("user", "list", "list users")
GET_USER = _not_allowed("user", "get", "get user")
CREATE_USER = _not_allowed("user", "create", "create users")
UPDATE_USER = _not_allowed("user", "update", "update users")
SET_ROLE = _not_allowed("user", "set-role", "change users role")
BAN_USER = _not_allowed("user", "ban", "ban users")
SET_EMAIL = _not_allowed("user", "set-email", "update users email", code="SET_USERS_EMAIL")
SET_PHONE = _not_allowed(
    "user", "set-phone", "update users phone number", code="SET_USERS_PHONE_NUMBER"
)
SET_PASSWORD = _not_allowed("user", "set-password", "set users password")
IMPERSONATE = _not_allowed("user", "impersonate", "impersonate users")
IMPERSONATE_ADMINS = _requirement(
    "user", "impersonate-admins", "YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins"
)
DELETE_USER = _not_allowed("user", "delete", "delete users")
LIST_SESSIONS = _not_allowed("session", "list", "list users sessions")
REVOKE_SESSIONS = _not_allowed("session", "revoke", "revoke users sessions")

# Admin update-user: a field present in the body needs, beyond UPDATE_USER, this permission.
UPDATE_FIELD_REQUIREMENTS: Mapping[str, Requirement] = {
    "role": SET_ROLE,
    "banned": BAN_USER,
    "ban_reason": BAN_USER,
    "ban_expires": BAN_USER,
    "email": SET_EMAIL,
    "email_verified": SET_EMAIL,
    "phone_number": SET_PHONE,
    "phone_number_verified": SET_PHONE,
}

# Better-Auth's other admin codes this API answers with.
YOU_CANNOT_BAN_YOURSELF = ("YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself")
YOU_CANNOT_REMOVE_YOURSELF = ("YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself")
USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL = (
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
    "User already exists. Use another email.",
)


def update_requirements(fields: set[str]) -> list[Requirement]:
    """The checks of an admin update, in Better-Auth's order (update, role, ban, email,
    phone), each once."""
    checks = [UPDATE_USER]
    for requirement in (SET_ROLE, BAN_USER, SET_EMAIL, SET_PHONE):
        if any(UPDATE_FIELD_REQUIREMENTS.get(f) is requirement for f in fields):
            checks.append(requirement)
    return checks


# (resource, action) -> the endpoint check that names it; for refusals of single permissions.
REQUIREMENTS_BY_ACTION: Mapping[tuple[str, str], Requirement] = {
    (resource, action): requirement
    for requirement in (
        LIST_USERS,
        GET_USER,
        CREATE_USER,
        UPDATE_USER,
        SET_ROLE,
        BAN_USER,
        SET_EMAIL,
        SET_PHONE,
        SET_PASSWORD,
        IMPERSONATE,
        IMPERSONATE_ADMINS,
        DELETE_USER,
        LIST_SESSIONS,
        REVOKE_SESSIONS,
    )
    for resource, actions in requirement.permissions.items()
    for action in actions
}
