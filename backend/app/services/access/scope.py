"""API keys narrow their owner, never widen them: the one rule every check applies.

A caller is a user (their roles, or ``ADMIN_USER_IDS``) and, when they call with an API key
that has ``permissions``, a **scope**: those permissions. A check passes only when both grant it:

- a permission check (the admin plugin's ``hasPermission``, or the organization plugin's for
  the caller's membership): the user's roles grant it **and** the scope does, with the same
  ``role(scope).authorize(request)`` as the api-key plugin's verify;
- a role check (``require_role``, ``require_admin``): the user holds the role **and** there is
  no scope (a scope lists permissions; it names no role, so it cannot grant one).

No scope (``None``): a session, a JWT, or a key without ``permissions`` (a NULL column, or the
JSON ``null`` the plugin's update-api-key writes to clear them), which acts with its owner's
roles as a session would. An empty scope (``{}``) grants nothing. Reads of the caller's own
record, sessions and organizations are not checks of roles: every valid key reaches them, as
its owner's session does.

Why both: the owner's roles decide what Better-Auth lets the owner's session do (a demoted
admin's old keys lose admin power with the demotion), and the scope is what the key was made
for (an admin's read-only key must not ban anyone). Neither alone may widen the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.services.access.control import Permissions, Role

# An API key's own permissions, or None when nothing narrows the caller's roles.
Scope = Mapping[str, Sequence[str]] | None


def key_grants(scope: Permissions, request: Permissions) -> bool:
    """``role(apiKey.permissions).authorize(request).success``, as the api-key plugin's verify."""
    statements = {
        resource: frozenset(actions)
        for resource, actions in scope.items()
        if not isinstance(actions, str)
    }
    return Role("api-key", statements).authorize(request).success


def scope_grants(scope: Scope, request: Permissions) -> bool:
    """Nothing narrows an unscoped caller; a scope must grant all of ``request`` itself."""
    return scope is None or key_grants(scope, request)


def scope_allows_roles(scope: Scope) -> bool:
    """A role check: only an unscoped caller may act with its roles as such."""
    return scope is None


def narrow(granted: Mapping[str, Sequence[str]], scope: Scope) -> dict[str, list[str]]:
    """``granted`` (every action the roles grant, per resource) limited to what ``scope``
    grants too: each action listed passes a check of it alone, for this caller."""
    if scope is None:
        return {resource: list(actions) for resource, actions in granted.items()}
    return {
        resource: [a for a in actions if key_grants(scope, {resource: [a]})]
        for resource, actions in granted.items()
    }
