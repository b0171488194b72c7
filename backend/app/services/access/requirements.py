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


LIST_USERS = _requirement(
    "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users"
)
GET_USER = _requirement(
    "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER", "You are not allowed to get user"
)
CREATE_USER = _requirement(
    "user", "create", "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS", "You are not allowed to create users"
)
UPDATE_USER = _requirement(
    "user", "update", "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS", "You are not allowed to update users"
)
SET_ROLE = _requirement(
    "user",
    "set-role",
    "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE",
    "You are not allowed to change users role",
)
BAN_USER = _requirement(
    "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users"
)
SET_EMAIL = _requirement(
    "user",
    "set-email",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_EMAIL",
    "You are not allowed to update users email",
)
SET_PHONE = _requirement(
    "user",
    "set-phone",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PHONE_NUMBER",
    "You are not allowed to update users phone number",
)
SET_PASSWORD = _requirement(
    "user",
    "set-password",
    "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
    "You are not allowed to set users password",
)
IMPERSONATE = _requirement(
    "user",
    "impersonate",
    "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
    "You are not allowed to impersonate users",
)
IMPERSONATE_ADMINS = _requirement(
    "user", "impersonate-admins", "YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins"
)
DELETE_USER = _requirement(
    "user", "delete", "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS", "You are not allowed to delete users"
)
LIST_SESSIONS = _requirement(
    "session",
    "list",
    "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS",
    "You are not allowed to list users sessions",
)
REVOKE_SESSIONS = _requirement(
    "session",
    "revoke",
    "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS",
    "You are not allowed to revoke users sessions",
)

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
