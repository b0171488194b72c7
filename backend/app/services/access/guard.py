"""Refusals with Better-Auth's codes: the one place a permission check turns into a 403."""

from __future__ import annotations

from app.services.access.control import AccessControl, Permissions, Role
from app.services.access.requirements import REQUIREMENTS_BY_ACTION, Requirement
from app.utils.errors import Forbidden

# The code of a refusal for a permission no Better-Auth endpoint names (an app's own resources).
INSUFFICIENT_PERMISSION = "INSUFFICIENT_PERMISSION"


def requirement_for(permissions: Permissions) -> Requirement:
    """The admin plugin's requirement when ``permissions`` is one of its checks (so the refusal
    carries its code), else a generic one."""
    pairs = [(resource, action) for resource, actions in permissions.items() for action in actions]
    if len(pairs) == 1 and pairs[0] in REQUIREMENTS_BY_ACTION:
        return REQUIREMENTS_BY_ACTION[pairs[0]]
    wanted = "; ".join(
        f"{resource}: {', '.join(actions)}" for resource, actions in permissions.items()
    )
    return Requirement(permissions, INSUFFICIENT_PERMISSION, f"requires the permission {wanted}")


def ensure(access: AccessControl, user_id: str, role: str | None, requirement: Requirement) -> None:
    """Raise Better-Auth's 403 unless the user holds ``requirement``."""
    if not access.has_permission(user_id, role, requirement.permissions):
        raise Forbidden(requirement.message, code=requirement.code)


def ensure_api_key(key_permissions: Permissions, requirement: Requirement) -> None:
    """An API key's own permissions decide, as the api-key plugin's verify does
    (``role(apiKey.permissions).authorize(permissions)``); a key without permissions holds none.
    The plugin's verify answers 401 ``KEY_NOT_FOUND`` here; the API answers 403 with the
    requirement's code, since the key itself is valid."""
    if not key_grants(key_permissions, requirement.permissions):
        raise Forbidden(requirement.message, code=requirement.code)


def key_grants(key_permissions: Permissions, request: Permissions) -> bool:
    """``role(apiKey.permissions).authorize(request).success``."""
    statements = {
        resource: frozenset(actions)
        for resource, actions in key_permissions.items()
        if not isinstance(actions, str)
    }
    return Role("api-key", statements).authorize(request).success
