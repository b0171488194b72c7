"""``PrincipalMemo``: a remembered caller stands only while the lookups that built it would give
the same answer (no invalidation, a live feed, a trusted token, an unexpired session), and the
identity service uses it only where that holds. The invalidations themselves, end to end on
PostgreSQL's feed, are ``tests/test_identity_cache.py``'s (each authenticates first, so the
caller is remembered when the change lands)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.services.auth.identity import IdentityService, Principal
from app.services.auth.identity_cache import IdentityCache
from app.services.auth.principal_memo import PrincipalMemo
from app.services.auth.snapshots import SessionSnapshot, UserSnapshot
from app.services.auth.token_cache import token_digest
from app.services.auth.verifier import VerifiedToken
from app.utils.errors import Unauthorized
from tests.support.clock import ManualClock
from tests.support.factories import sign_session_token
from tests.unit.test_identity_cache_unit import user

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SECRET = "s" * 32


class Trust:
    def __init__(self) -> None:
        self.trusted = True

    def __call__(self, token: VerifiedToken) -> bool:
        return self.trusted


def token() -> VerifiedToken:
    return VerifiedToken("u1", {}, 0.0, 1e12, None, "k", "EdDSA")


def principal(snapshot: UserSnapshot | None = None) -> Principal:
    return Principal(user=snapshot or user(), token_type="jwt", issued_at=None, expires_at=NOW)


def make(size: int = 10) -> tuple[PrincipalMemo, IdentityCache, Trust]:
    cache = IdentityCache(max_entries=10, fallback_ttl=2.0, clock=ManualClock())
    cache.feed_up()
    trust = Trust()
    return PrincipalMemo(cache, max_entries=size, still_trusted=trust), cache, trust


def now() -> datetime:
    return NOW


def test_remembered_while_nothing_changes() -> None:
    memo, _, _ = make()
    caller = principal()
    memo.remember(b"k", caller, memo.begin(), token=token())
    assert memo.recall(b"k", now) is caller
    assert memo.recall(b"k", now) is caller
    assert memo.hits == 2


def test_any_invalidation_forgets_every_caller() -> None:
    memo, cache, _ = make()
    memo.remember(b"k", principal(), memo.begin())
    cache.evict_user("someone-else")  # a notice about any row
    assert memo.recall(b"k", now) is None
    assert len(memo) == 0


def test_a_change_during_the_lookups_is_not_remembered() -> None:
    memo, cache, _ = make()
    generation = memo.begin()
    cache.evict_session("s1")
    memo.remember(b"k", principal(), generation)
    assert memo.recall(b"k", now) is None


def test_nothing_is_remembered_or_recalled_while_the_feed_is_down() -> None:
    memo, cache, _ = make()
    memo.remember(b"k", principal(), memo.begin())
    cache.feed_down()
    assert memo.recall(b"k", now) is None
    assert memo.begin() is None
    memo.remember(b"k", principal(), cache.begin_read())
    assert len(memo) == 0


def test_a_token_no_longer_trusted_is_forgotten() -> None:
    memo, _, trust = make()
    memo.remember(b"k", principal(), memo.begin(), token=token())
    trust.trusted = False  # expired, or its key withdrawn
    assert memo.recall(b"k", now) is None


def test_an_expired_session_is_forgotten() -> None:
    memo, _, _ = make()
    memo.remember(b"k", principal(), memo.begin(), session_expires_at=NOW + timedelta(seconds=1))
    assert memo.recall(b"k", now) is not None
    assert memo.recall(b"k", lambda: NOW + timedelta(seconds=1)) is None


def test_no_token_cache_no_jwt_remembered() -> None:
    cache = IdentityCache(max_entries=10, fallback_ttl=2.0)
    cache.feed_up()
    memo = PrincipalMemo(cache, max_entries=10, still_trusted=None)
    memo.remember(b"jwt", principal(), memo.begin(), token=token())
    memo.remember(b"session", principal(), memo.begin())
    assert memo.recall(b"jwt", now) is None
    assert memo.recall(b"session", now) is not None


def test_a_banned_user_is_not_remembered() -> None:
    memo, _, _ = make()
    banned = dataclasses.replace(user(), banned=True, ban_expires=NOW)
    memo.remember(b"k", principal(banned), memo.begin())
    assert len(memo) == 0


def test_bounded_oldest_first() -> None:
    memo, _, _ = make(size=2)
    for key in (b"a", b"b", b"c"):
        memo.remember(key, principal(), memo.begin())
    assert len(memo) == 2
    assert memo.recall(b"a", now) is None
    assert memo.recall(b"c", now) is not None


def test_disabled_with_the_identity_cache() -> None:
    cache = IdentityCache(max_entries=10, fallback_ttl=2.0, enabled=False)
    assert not PrincipalMemo(cache, max_entries=10, still_trusted=None).enabled


async def _no_database() -> None:
    raise AssertionError("the caches answer")


def _service(memo: PrincipalMemo, cache: IdentityCache, **options: object) -> IdentityService:
    class NoVerifier:
        def cached(self, token: str) -> None:
            return None

        async def verify(self, token: str, header: object = None) -> VerifiedToken:
            raise AssertionError("not a JWT")

    return IdentityService(
        _no_database,  # type: ignore[arg-type]
        NoVerifier(),
        secret=SECRET,
        cache=cache,
        memo=memo,
        now=now,
        **options,  # type: ignore[arg-type]
    )


def _cached_session(cache: IdentityCache, value: str) -> None:
    session = SessionSnapshot(
        id="s1", user_id="u1", created_at=NOW, expires_at=NOW + timedelta(days=1)
    )
    cache.put_session(token_digest(value), session, cache.begin_read())
    cache.put_user(user(), cache.begin_read())


async def test_a_bare_token_remembered_as_bearer_is_still_no_cookie() -> None:
    memo, cache, _ = make()
    _cached_session(cache, "bare-session-token")
    service = _service(memo, cache)
    first = await service.authenticate("bare-session-token")
    assert await service.authenticate("bare-session-token") is first  # remembered
    with pytest.raises(Unauthorized):  # Better-Auth signs every cookie
        await service.authenticate_session_token("bare-session-token", from_cookie=True)
    signed = sign_session_token("bare-session-token", SECRET)
    cookie = await service.authenticate_session_token(signed, from_cookie=True)
    assert await service.authenticate_session_token(signed, from_cookie=True) is cookie
    assert memo.hits == 2


async def test_not_used_with_redis_sessions_or_strict_jwts() -> None:
    memo, cache, _ = make()
    assert _service(memo, cache, require_live_session=True)._memo is None
    assert _service(memo, cache)._memo is memo
