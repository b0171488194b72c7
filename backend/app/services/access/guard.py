"""Refusals with Better-Auth's codes: the one place a permission check turns into a 403.

Every check takes the caller's scope (an API key's own permissions, ``app.services.access.scope``):
it passes only when the user's roles and the scope both grant it.
"""

from __future__ import annotations

from app.services.access.control import AccessControl, Permissions
from app.services.access.requirements import REQUIREMENTS_BY_ACTION, Requirement
from app.services.access.scope import Scope, scope_grants
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


def refusal(requirement: Requirement) -> Forbidden:
    """The 403 of a requirement the caller does not hold: Better-Auth's message and code."""
    return Forbidden(requirement.message, code=requirement.code)


def permits(
    access: AccessControl,
    user_id: str | None,
    role: str | None,
    permissions: Permissions,
    scope: Scope = None,
) -> bool:
    """The admin plugin's ``hasPermission`` for the user, narrowed by ``scope``."""
    return access.has_permission(user_id, role, permissions) and scope_grants(scope, permissions)


def ensure(
    access: AccessControl,
    user_id: str,
    role: str | None,
    requirement: Requirement,
    scope: Scope = None,
) -> None:
    """Raise Better-Auth's 403 unless the user (narrowed by ``scope``) holds ``requirement``.
    An API key refused for its scope gets the same 403 as its owner would: the key is valid
    (the plugin's verify answers 401 ``KEY_NOT_FOUND`` instead)."""
    if not permits(access, user_id, role, requirement.permissions, scope):
        raise refusal(requirement)


class RequirementGuard:
    """``ensure`` for one requirement, its answers remembered by role: for a caller whom only
    their roles decide (no key scope, not in ``ADMIN_USER_IDS``), ``has_permission`` depends on
    the stored role string and on the access control, both fixed for the answer. A guard asked
    with another ``AccessControl`` (another app in the process) starts over."""

    MAX_ROLES = 1024  # distinct role strings remembered; then forgotten at once

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement
        self._access: AccessControl | None = None
        self._granted: dict[str | None, bool] = {}

    def ensure(
        self, access: AccessControl, user_id: str, role: str | None, scope: Scope = None
    ) -> None:
        if scope is not None or user_id in access.admin_user_ids:
            ensure(access, user_id, role, self.requirement, scope)
            return
        if access is not self._access:
            self._access, self._granted = access, {}
        granted = self._granted.get(role)
        if granted is None:
            granted = access.has_permission(None, role, self.requirement.permissions)
            if len(self._granted) >= self.MAX_ROLES:
                self._granted.clear()
            self._granted[role] = granted
        if not granted:
            raise refusal(self.requirement)
