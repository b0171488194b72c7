"""Roles as Better-Auth's admin plugin stores them: one comma-joined string, no spaces."""

from __future__ import annotations

from collections.abc import Iterable


def parse_roles(stored: str | None) -> list[str]:
    """Split exactly like Better-Auth (on ``","``, without trimming); empty parts dropped."""
    if not stored:
        return []
    return [part for part in stored.split(",") if part]


def join_roles(roles: Iterable[str]) -> str:
    """Deduplicate preserving order; stored comma-joined without spaces (``"admin,user"``)."""
    unique: list[str] = []
    for role in roles:
        if role not in unique:
            unique.append(role)
    return ",".join(unique)


def has_any_role(stored: str | None, wanted: Iterable[str]) -> bool:
    held = set(parse_roles(stored))
    return any(role in held for role in wanted)
