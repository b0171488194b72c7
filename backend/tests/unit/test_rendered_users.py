"""``app.routers.render.RenderedUsers``: one rendering per user, bounded, always the latest.

Memory must follow the number of users, not the number of writes (issue 17's soak: every write
makes a new snapshot, and a cache keyed by snapshot grew with each one until its bound).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from app.routers.render import RenderedUsers, render_user_page
from app.schemas.user import UserPage, UserRead
from app.services.auth.snapshots import UserSnapshot

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def snapshot(number: int, **changes: object) -> UserSnapshot:
    user = UserSnapshot(
        id=f"user-{number}",
        name=f"User {number}",
        email=f"user{number}@example.com",
        email_verified=True,
        image=None,
        created_at=T0,
        updated_at=T0,
        role="user",
        banned=False,
        ban_reason=None,
        ban_expires=None,
    )
    return dataclasses.replace(user, **changes)  # type: ignore[arg-type]


def test_the_bytes_are_the_schema_s() -> None:
    user = snapshot(1)
    assert RenderedUsers().render(user) == UserRead.model_validate(user).model_dump_json().encode()


def test_a_thousand_writes_to_one_user_hold_one_entry() -> None:
    cache = RenderedUsers()
    for version in range(1000):
        user = snapshot(
            1, role="admin" if version % 2 else "user", updated_at=T0 + timedelta(seconds=version)
        )
        body = json.loads(cache.render(user))
        assert body["updatedAt"].startswith(
            (T0 + timedelta(seconds=version)).strftime("%Y-%m-%dT%H:%M:%S")
        )
        assert body["role"] == user.role  # never an older version's bytes
    assert len(cache) == 1


def test_an_equal_snapshot_reuses_the_rendering() -> None:
    cache = RenderedUsers()
    first = cache.render(snapshot(1))
    assert cache.render(snapshot(1)) is first  # a list reads a new, equal snapshot per request


def test_bounded_least_recently_used_out() -> None:
    cache = RenderedUsers(max_users=3)
    users = [snapshot(number) for number in range(4)]
    for user in users[:3]:
        cache.render(user)
    cache.render(users[0])  # now the most recent
    cache.render(users[3])  # evicts users[1], the least recently used
    assert len(cache) == 3
    kept = cache.render(users[0])
    assert cache.render(users[0]) is kept
    assert len(cache) == 3


def test_page_bytes_match_the_page_schema() -> None:
    users = [snapshot(number) for number in range(3)]
    page = render_user_page(users, total=7, limit=3, offset=0)
    expected = UserPage(
        users=[UserRead.model_validate(user) for user in users], total=7, limit=3, offset=0
    )
    assert json.loads(page) == json.loads(expected.model_dump_json())
