"""Better-Auth 1.7.25's admin-plugin defaults (``better-auth/plugins/admin/access``).

Copied, not derived: these tuples are what a Better-Auth server uses when it is given no
access-control configuration, so the two sides agree without sharing a file.
"""

from __future__ import annotations

from collections.abc import Mapping

# defaultStatements: the vocabulary of resources and actions.
DEFAULT_STATEMENTS: Mapping[str, tuple[str, ...]] = {
    "user": (
        "create",
        "list",
        "set-role",
        "ban",
        "impersonate",
        "impersonate-admins",
        "delete",
        "set-password",
        "set-email",
        "set-phone",
        "get",
        "update",
    ),
    "session": ("list", "revoke", "delete"),
}

# adminAc: everything except impersonate-admins. userAc: nothing (both resources, no actions).
DEFAULT_ROLE_STATEMENTS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "admin": {
        "user": tuple(a for a in DEFAULT_STATEMENTS["user"] if a != "impersonate-admins"),
        "session": DEFAULT_STATEMENTS["session"],
    },
    "user": {"user": (), "session": ()},
}

# The admin plugin's ``defaultRole``: a user whose role column is empty holds this role.
DEFAULT_ROLE = "user"
