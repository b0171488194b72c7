"""Authorization as Better-Auth's admin plugin decides it: statements, roles, ``adminUserIds``.

Pure: no web framework, no database. Built once (``load_access_control``) and shared by the
dependencies that guard routes and by the permission queries.
"""

from app.services.access.control import AccessControl, Decision, Permissions, Role, split_roles
from app.services.access.loader import (
    AccessControlError,
    load_access_control,
    parse_access_control,
)
from app.services.access.requirements import Requirement
from app.services.access.statements import (
    DEFAULT_ROLE,
    DEFAULT_ROLE_STATEMENTS,
    DEFAULT_STATEMENTS,
)

__all__ = [
    "DEFAULT_ROLE",
    "DEFAULT_ROLE_STATEMENTS",
    "DEFAULT_STATEMENTS",
    "AccessControl",
    "AccessControlError",
    "Decision",
    "Permissions",
    "Requirement",
    "Role",
    "load_access_control",
    "parse_access_control",
    "split_roles",
]
