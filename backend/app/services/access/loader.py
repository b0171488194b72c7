"""Build the ``AccessControl`` from Better-Auth's defaults, ``ACCESS_CONTROL_FILE`` and
``ADMIN_USER_IDS``.

The file (shared with the auth server, which builds its ``ac`` and roles from it)::

    {
      "statements": {"project": ["create", "share"]},
      "roles": {"moderator": {"user": ["list", "ban"], "session": ["list", "revoke"]}},
      "organization": {...}
    }

- ``statements`` are merged into the defaults resource by resource (the union of actions);
- a role named in ``roles`` replaces the default role of that name; ``admin`` and ``user``
  keep Better-Auth's defaults unless the file names them;
- every action a role grants must be declared in the (merged) statements;
- ``organization`` is kept as written, for the organization package to read.

Anything else is an ``AccessControlError`` whose message names the faulty entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from app.services.access.control import AccessControl, Role
from app.services.access.statements import DEFAULT_ROLE_STATEMENTS, DEFAULT_STATEMENTS

TOP_LEVEL_KEYS = ("statements", "roles", "organization")


class AccessControlError(ValueError):
    """The access-control configuration is unusable; the message is one line."""


def check_name(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value or value != value.strip():
        raise AccessControlError(f"{where}: {what} {value!r} must be a non-empty string")
    return value


def check_actions(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise AccessControlError(f"{where}: must be a list of action names")
    return [check_name(action, where, "action") for action in value]


def check_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AccessControlError(f"{where}: must be a JSON object")
    return value


def merge_statements(
    defaults: Mapping[str, Iterable[str]], extra: object, section: str = "statements"
) -> dict[str, tuple[str, ...]]:
    """``defaults`` with the file's ``section`` merged in, resource by resource (the union of
    actions, in order)."""
    merged = {resource: list(actions) for resource, actions in defaults.items()}
    for resource, actions in check_object(extra, section).items():
        check_name(resource, section, "resource")
        known = merged.setdefault(resource, [])
        listed = check_actions(actions, f"{section}.{resource}")
        known.extend(action for action in listed if action not in known)
    return {resource: tuple(actions) for resource, actions in merged.items()}


def build_role(
    name: str,
    grants: Mapping[str, Iterable[str]],
    statements: Mapping[str, tuple[str, ...]],
    *,
    section: str = "roles",
) -> Role:
    """A role checked against ``statements``; errors name ``section.name.resource``."""
    built: dict[str, frozenset[str]] = {}
    for resource, actions in grants.items():
        where = f"{section}.{name}.{resource}"
        if resource not in statements:
            raise AccessControlError(f"{where}: unknown resource (not in the statements)")
        listed = check_actions(list(actions) if isinstance(actions, tuple) else actions, where)
        unknown = [action for action in listed if action not in statements[resource]]
        if unknown:
            raise AccessControlError(
                f"{where}: unknown action(s) {', '.join(unknown)} (not in the statements)"
            )
        built[resource] = frozenset(listed)
    return Role(name=name, statements=built)


def build_roles(
    defaults: Mapping[str, Mapping[str, Iterable[str]]],
    declared: object,
    statements: Mapping[str, tuple[str, ...]],
    *,
    section: str = "roles",
) -> dict[str, Role]:
    """The file's roles (``section``), and the default roles it does not redefine."""
    declared = check_object(declared, section)
    roles = {
        name: build_role(name, grants, statements, section=section)
        for name, grants in defaults.items()
        if name not in declared
    }
    for name, grants in declared.items():
        check_name(name, section, "role")
        if "," in name:
            # Better-Auth splits the stored role on ",": such a role could never be held.
            raise AccessControlError(f"{section}.{name}: a role name cannot contain ','")
        where = f"{section}.{name}"
        roles[name] = build_role(name, check_object(grants, where), statements, section=section)
    return roles


def parse_access_control(
    document: object,
    *,
    admin_user_ids: Iterable[str] = (),
    source: str | None = None,
) -> AccessControl:
    """An ``AccessControl`` from the file's parsed JSON (``None``: the defaults alone)."""
    data = check_object(document if document is not None else {}, "the file")
    unknown_keys = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown_keys:
        raise AccessControlError(
            f"unknown key(s) {', '.join(unknown_keys)}; expected {', '.join(TOP_LEVEL_KEYS)}"
        )
    statements = merge_statements(DEFAULT_STATEMENTS, data.get("statements", {}))
    roles = build_roles(DEFAULT_ROLE_STATEMENTS, data.get("roles", {}), statements)
    organization = data.get("organization")
    if organization is not None:
        organization = check_object(organization, "organization")
    ids = frozenset(check_name(user_id, "ADMIN_USER_IDS", "user id") for user_id in admin_user_ids)
    return AccessControl(
        statements=statements,
        roles=roles,
        admin_user_ids=ids,
        organization=organization,
        source=source,
    )


def load_access_control(path: Path | None, *, admin_user_ids: Iterable[str] = ()) -> AccessControl:
    """Read ``path`` (when set) and build the configuration; errors name the file."""
    if path is None:
        return parse_access_control(None, admin_user_ids=admin_user_ids)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise AccessControlError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise AccessControlError(f"{path}: not valid JSON ({error})") from None
    try:
        return parse_access_control(document, admin_user_ids=admin_user_ids, source=str(path))
    except AccessControlError as error:
        raise AccessControlError(f"{path}: {error}") from None
