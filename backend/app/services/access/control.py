"""Access-control evaluation, decision for decision the same as Better-Auth 1.7.25.

Better-Auth's ``role(statements).authorize(request)`` (``plugins/access/access.ts``) and the
admin plugin's ``hasPermission`` (``plugins/admin/has-permission.ts``), translated:

- a user id in ``adminUserIds`` passes everything;
- otherwise the role string (or the default role when empty) is split on ``","`` without
  trimming, and the request passes when any one of those roles authorizes all of it;
- a role authorizes a request when every requested resource is in the role's statements and
  every requested action of it is allowed; an unknown resource, an empty action list or an
  empty request fails; an unknown role authorizes nothing.

A request that needs actions from two different roles therefore fails, as it does there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.services.access.statements import DEFAULT_ROLE

# {resource: [action, ...]}: what an endpoint requires, or what a client asks about.
Permissions = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Decision:
    """``{success, error}`` as ``authorize`` returns it (``error`` is Better-Auth's text)."""

    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    statements: Mapping[str, frozenset[str]]

    def authorize(self, request: Permissions) -> Decision:
        """``role.authorize(request)`` with the default ``"AND"`` connector."""
        for resource, actions in request.items():
            allowed = self.statements.get(resource)
            if allowed is None:
                return Decision(False, f"You are not allowed to access resource: {resource}")
            # A bare string is not an action list (Better-Auth would treat it as a malformed
            # request object and find no actions in it).
            if isinstance(actions, str) or not actions:
                return Decision(False, f'unauthorized to access resource "{resource}"')
            if not all(isinstance(action, str) and action in allowed for action in actions):
                return Decision(False, f'unauthorized to access resource "{resource}"')
        if not request:
            return Decision(False, "Not authorized")
        return Decision(True)

    def as_dict(self) -> dict[str, list[str]]:
        return {resource: sorted(actions) for resource, actions in self.statements.items()}


def split_roles(stored: str | None, default_role: str = DEFAULT_ROLE) -> list[str]:
    """``(role || defaultRole || "user").split(",")``: no trimming, empty parts kept (they
    match no role)."""
    return (stored or default_role or DEFAULT_ROLE).split(",")


@dataclass(frozen=True, slots=True)
class AccessControl:
    """Statements, roles and ``adminUserIds``: one configuration for the whole process."""

    statements: Mapping[str, tuple[str, ...]]
    roles: Mapping[str, Role]
    admin_user_ids: frozenset[str] = frozenset()
    default_role: str = DEFAULT_ROLE
    # The file's "organization" section, kept as written for the organization package.
    organization: Mapping[str, Any] | None = None
    source: str | None = field(default=None, compare=False)

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(self.roles)

    def has_permission(
        self, user_id: str | None, role: str | None, permissions: Permissions
    ) -> bool:
        """The admin plugin's ``hasPermission({userId, role, permissions})``."""
        if user_id and user_id in self.admin_user_ids:
            return True
        for name in split_roles(role, self.default_role):
            held = self.roles.get(name)
            if held is not None and held.authorize(permissions).success:
                return True
        return False

    def permissions_of(self, user_id: str | None, role: str | None) -> dict[str, list[str]]:
        """Every action the user may take on its own, for every resource (in statement
        order; an empty list when none): the union over the user's roles (all statements for
        ``adminUserIds``).

        Each listed action passes ``has_permission`` alone; a request combining actions that
        come from two different roles does not (any one role must grant all of a request).
        """
        if user_id and user_id in self.admin_user_ids:
            return {resource: list(actions) for resource, actions in self.statements.items()}
        granted: dict[str, set[str]] = {resource: set() for resource in self.statements}
        for name in split_roles(role, self.default_role):
            held = self.roles.get(name)
            if held is None:
                continue
            for resource, actions in held.statements.items():
                granted.setdefault(resource, set()).update(actions)
        return {
            resource: [a for a in self.statements.get(resource, ()) if a in actions]
            + sorted(actions - set(self.statements.get(resource, ())))
            for resource, actions in granted.items()
        }
