"""IdentityCache rules without a database: generations, TTL fallback, eviction."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.auth.identity_cache import IdentityCache
from app.services.auth.snapshots import SessionSnapshot, UserSnapshot
from tests.support.clock import ManualClock

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def user(user_id: str = "u1", role: str = "user") -> UserSnapshot:
    return UserSnapshot(
        id=user_id,
        name="N",
        email=f"{user_id}@example.com",
        email_verified=False,
        image=None,
        created_at=NOW,
        updated_at=NOW,
        role=role,
        banned=False,
        ban_reason=None,
        ban_expires=None,
    )


def session(session_id: str = "s1", user_id: str = "u1") -> SessionSnapshot:
    return SessionSnapshot(id=session_id, user_id=user_id, created_at=NOW, expires_at=NOW)


def make(clock: ManualClock, ttl: float = 2.0, size: int = 10) -> IdentityCache:
    return IdentityCache(max_entries=size, fallback_ttl=ttl, clock=clock)


def test_read_that_raced_an_invalidation_is_not_stored() -> None:
    cache = make(ManualClock())
    cache.feed_up()
    generation = cache.begin_read()
    cache.evict_user("u1")  # a change lands while the read is in flight
    cache.put_user(user(), generation)
    assert cache.get_user("u1") is None
    cache.put_user(user(), cache.begin_read())
    assert cache.get_user("u1") is not None


def test_live_entries_do_not_age_but_fallback_ones_do() -> None:
    clock = ManualClock()
    cache = make(clock, ttl=2.0)
    cache.feed_up()
    cache.put_user(user(), cache.begin_read())
    clock.advance(3600)
    assert cache.get_user("u1") is not None
    cache.feed_down()
    assert cache.get_user("u1") is None  # older than the fallback TTL
    cache.put_user(user(), cache.begin_read())
    clock.advance(1.9)
    assert cache.get_user("u1") is not None
    clock.advance(0.2)
    assert cache.get_user("u1") is None


def test_feed_up_flushes() -> None:
    cache = make(ManualClock())
    cache.put_user(user(), cache.begin_read())
    cache.put_session(b"d", session(), cache.begin_read())
    cache.feed_up()
    assert cache.get_user("u1") is None
    assert cache.get_session(b"d") is None
    assert cache.live


def test_session_eviction_by_id_and_by_user() -> None:
    cache = make(ManualClock())
    cache.feed_up()
    cache.put_session(b"a", session("s1", "u1"), cache.begin_read())
    cache.put_session(b"b", session("s2", "u1"), cache.begin_read())
    cache.put_session(b"c", session("s3", "u2"), cache.begin_read())
    cache.evict_session("s1")
    assert cache.get_session(b"a") is None
    assert cache.get_session(b"b") is not None
    cache.evict_sessions_of("u1")
    assert cache.get_session(b"b") is None
    assert cache.get_session(b"c") is not None
    cache.evict_session("unknown")


def test_bounded() -> None:
    cache = make(ManualClock(), size=2)
    cache.feed_up()
    for index in range(3):
        cache.put_user(user(f"u{index}"), cache.begin_read())
        cache.put_session(f"d{index}".encode(), session(f"s{index}"), cache.begin_read())
    assert cache.get_user("u0") is None
    assert cache.get_user("u2") is not None
    assert cache.get_session(b"d0") is None
    assert cache.stats()["users"] == 2


def test_disabled_cache_stores_nothing() -> None:
    cache = IdentityCache(max_entries=10, fallback_ttl=10, enabled=False)
    cache.put_user(user(), cache.begin_read())
    assert cache.get_user("u1") is None


class TestPerRowGenerations:
    """A read is dropped only when its own row changed meanwhile: under load a read outlasts
    the gap between any two notices, and a global check kept evicted users out of the cache."""

    def test_another_rows_invalidation_does_not_drop_a_read(self) -> None:
        cache = make(ManualClock())
        cache.feed_up()
        generation = cache.begin_read()
        cache.evict_user("u2")
        cache.evict_session("s9")
        cache.put_user(user(), generation)
        cache.put_session(b"d", session(), generation)
        assert cache.get_user("u1") is not None
        assert cache.get_session(b"d") is not None

    def test_own_session_or_users_sessions_invalidated_drop_the_read(self) -> None:
        cache = make(ManualClock())
        cache.feed_up()
        generation = cache.begin_read()
        cache.evict_session("s1")
        cache.put_session(b"d", session("s1", "u1"), generation)
        cache.put_session_by_id("s1", session("s1", "u1"), generation)
        cache.put_live_session_of("u1", session("s1", "u1"), generation)
        assert cache.get_session(b"d") is None
        assert cache.get_session_by_id("s1") is None
        assert cache.get_live_session_of("u1") is None
        generation = cache.begin_read()
        cache.evict_sessions_of("u1")
        cache.put_session(b"e", session("s2", "u1"), generation)
        assert cache.get_session(b"e") is None

    def test_a_read_that_began_after_the_invalidation_is_kept(self) -> None:
        cache = make(ManualClock())
        cache.feed_up()
        cache.evict_user("u1")
        cache.put_user(user(), cache.begin_read())
        assert cache.get_user("u1") is not None

    def test_flush_drops_every_read_in_flight(self) -> None:
        cache = make(ManualClock())
        cache.feed_up()
        generation = cache.begin_read()
        cache.flush()
        cache.put_user(user(), generation)
        assert cache.get_user("u1") is None

    def test_bounded_history_stays_safe(self) -> None:
        cache = make(ManualClock(), size=1)
        cache.feed_up()
        generation = cache.begin_read()
        cache.evict_user("u1")
        for index in range(10):  # pushes u1's mark out of the bounded history
            cache.evict_user(f"x{index}")
        cache.put_user(user(), generation)
        assert cache.get_user("u1") is None
