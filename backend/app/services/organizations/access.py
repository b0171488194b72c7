"""The organization plugin's access control, decision for decision as Better-Auth 1.7.25.

Sources (``better-auth/plugins/organization``): ``access/statement.ts`` (default statements
and the roles owner, admin, member), ``permission.ts`` (``hasPermissionFn``) and ``roles.ts``
(``parseRoleList``). The per-role check is the same ``role.authorize`` as the admin plugin's,
so :class:`app.services.access.Role` is reused; what differs from the admin plugin:

- a member's role string is split on ``","`` and each part is **trimmed**, empty parts
  dropped (the admin plugin does neither);
- there is no default role and no ``adminUserIds``; the creator role (``owner``) passes every
  check only where Better-Auth passes ``allowCreatorAllPermissions`` (update-member-role);
- configured roles are given to the plugin together with the defaults (the auth server does the
  same, ``auth-server/src/org-access.ts``), so owner, admin and member always exist unless the
  file redefines them.

The ``"organization"`` section of ``ACCESS_CONTROL_FILE``::

    {"statements": {"project": ["create", "share"]},
     "roles": {"billing": {"organization": ["update"], "project": ["share"]}}}

Statements are merged into the defaults resource by resource; a role in ``roles`` replaces the
default role of that name; every granted action must be in the merged statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.services.access.control import Permissions, Role
from app.services.access.loader import (
    AccessControlError,
    build_roles,
    check_object,
    load_access_control,
    merge_statements,
)

CREATOR_ROLE = "owner"
SECTION_KEYS = ("statements", "roles")

DEFAULT_ORG_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "organization": ("update", "delete"),
    "member": ("create", "update", "delete"),
    "invitation": ("create", "cancel"),
    "team": ("create", "update", "delete"),
    "ac": ("create", "read", "update", "delete"),
}

DEFAULT_ORG_ROLE_STATEMENTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "owner": DEFAULT_ORG_STATEMENTS,
    "admin": {
        "organization": ("update",),
        "invitation": ("create", "cancel"),
        "member": ("create", "update", "delete"),
        "team": ("create", "update", "delete"),
        "ac": ("create", "read", "update", "delete"),
    },
    "member": {
        "organization": (),
        "member": (),
        "invitation": (),
        "team": (),
        "ac": ("read",),
    },
}


def parse_role_list(roles: str | Sequence[str] | None) -> list[str]:
    """``parseRoleList``: split on ``","``, trim, drop empty parts (order kept)."""
    if roles is None:
        return []
    values = [roles] if isinstance(roles, str) else list(roles)
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def join_roles(roles: str | Sequence[str]) -> str:
    """``parseRoles``: the form stored in ``member.role`` (``"admin,member"``)."""
    return ",".join(parse_role_list(roles))


def has_role(stored: str | None, role: str) -> bool:
    return role in parse_role_list(stored)


@dataclass(frozen=True, slots=True)
class OrgAccessControl:
    statements: Mapping[str, tuple[str, ...]]
    roles: Mapping[str, Role]
    creator_role: str = CREATOR_ROLE

    @property
    def role_names(self) -> frozenset[str]:
        """The roles update-member-role accepts (Better-Auth's ``validStaticRoles``)."""
        return frozenset(self.roles)

    def with_dynamic_roles(
        self, dynamic: Iterable[tuple[str, Mapping[str, Sequence[str]]]]
    ) -> OrgAccessControl:
        """The roles one organization holds with dynamic access control: each
        ``organizationRole`` row (name, statements) merged into the role of that name, the
        union of the actions per resource, as ``hasPermission`` does (``has-permission.ts``);
        a name no static role has becomes a role of its own. Rows of one name add up."""
        roles = dict(self.roles)
        for name, grants in dynamic:
            held = roles.get(name)
            merged = {r: set(a) for r, a in held.statements.items()} if held else {}
            for resource, actions in grants.items():
                merged.setdefault(resource, set()).update(actions)
            roles[name] = Role(name, {r: frozenset(a) for r, a in merged.items()})
        return replace(self, roles=roles)

    def is_creator(self, stored: str | None) -> bool:
        return has_role(stored, self.creator_role)

    def has_permission(
        self,
        stored: str | None,
        permissions: Permissions,
        *,
        allow_creator_all: bool = False,
    ) -> bool:
        """``hasPermissionFn``: any one of the member's roles must authorize all of it."""
        if not permissions:
            return False
        names = parse_role_list(stored)
        if allow_creator_all and self.creator_role in names:
            return True
        for name in names:
            role = self.roles.get(name)
            if role is not None and role.authorize(permissions).success:
                return True
        return False

    def permissions_of(self, stored: str | None) -> dict[str, list[str]]:
        """Every action one of the member's roles grants, per resource (statement order)."""
        granted: dict[str, set[str]] = {resource: set() for resource in self.statements}
        for name in parse_role_list(stored):
            role = self.roles.get(name)
            if role is not None:
                for resource, actions in role.statements.items():
                    granted.setdefault(resource, set()).update(actions)
        return {
            resource: [a for a in self.statements.get(resource, ()) if a in actions]
            for resource, actions in granted.items()
        }


def parse_org_access(section: Mapping[str, Any] | None) -> OrgAccessControl:
    """The organization access control from the file's ``"organization"`` section."""
    data = check_object(section if section is not None else {}, "organization")
    unknown_keys = sorted(set(data) - set(SECTION_KEYS))
    if unknown_keys:
        raise AccessControlError(
            f"organization: unknown key(s) {', '.join(unknown_keys)}; "
            f"expected {', '.join(SECTION_KEYS)}"
        )
    statements = merge_statements(
        DEFAULT_ORG_STATEMENTS, data.get("statements", {}), "organization.statements"
    )
    roles = build_roles(
        DEFAULT_ORG_ROLE_STATEMENTS,
        data.get("roles", {}),
        statements,
        section="organization.roles",
    )
    return OrgAccessControl(statements=statements, roles=roles)


DEFAULT_ORG_ACCESS = parse_org_access(None)


def load_org_access(path: Path | None) -> OrgAccessControl:
    """The ``"organization"`` section of ``ACCESS_CONTROL_FILE`` (read and checked by the
    access package's loader); errors name the file."""
    section = load_access_control(path).organization
    try:
        return parse_org_access(section)
    except AccessControlError as error:
        raise AccessControlError(f"{path}: {error}") from None
