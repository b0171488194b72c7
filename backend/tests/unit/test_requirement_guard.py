"""``RequirementGuard``: the answers of ``ensure``, remembered by role only where the role alone
decides (no key scope, not ``ADMIN_USER_IDS``), and forgotten for another access control."""

from __future__ import annotations

import itertools

import pytest

from app.services.access import AccessControl
from app.services.access.guard import RequirementGuard, ensure, requirement_for
from app.services.access.loader import load_access_control
from app.utils.errors import Forbidden

ROLES = [None, "", "user", "admin", "user,admin", "admin ", "nobody", "user,nobody"]
PERMISSIONS = [
    {"user": ["list"]},
    {"user": ["ban", "list"]},
    {"session": ["revoke"]},
    {"user": ["create"], "session": ["list"]},
    {"nothing": ["read"]},
]
SCOPES = [None, {"user": ["list"]}, {}]


def _answer(check: object, *args: object) -> str:
    try:
        check(*args)  # type: ignore[operator]
    except Forbidden as refusal:
        return f"403 {refusal.code}"
    return "ok"


@pytest.mark.parametrize("permissions", PERMISSIONS)
def test_same_answers_as_ensure(permissions: dict[str, list[str]]) -> None:
    access = load_access_control(None, admin_user_ids=["root"])
    requirement = requirement_for(permissions)
    guard = RequirementGuard(requirement)
    for _ in range(2):  # remembered the second time round
        for user_id, role, scope in itertools.product(["u1", "root"], ROLES, SCOPES):
            expected = _answer(ensure, access, user_id, role, requirement, scope)
            assert _answer(guard.ensure, access, user_id, role, scope) == expected, (
                user_id,
                role,
                scope,
            )


def test_another_access_control_starts_over() -> None:
    guard = RequirementGuard(requirement_for({"user": ["list"]}))
    default = load_access_control(None)
    guard.ensure(default, "u1", "admin")
    nobody_may: AccessControl = load_access_control(None, admin_user_ids=[])
    stripped = AccessControl(statements=nobody_may.statements, roles={})
    with pytest.raises(Forbidden):
        guard.ensure(stripped, "u1", "admin")
    guard.ensure(default, "u1", "admin")
