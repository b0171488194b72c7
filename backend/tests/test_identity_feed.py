"""The invalidation feed proves itself: a heartbeat through the triggers' own notify path, and a
check that every trigger is in place (revision 0006, ``invalidation.py``).

Before the heartbeat, a listener whose LISTEN had been lost (as behind a transaction pooler) or a
database missing a trigger kept the cache ``live`` forever: a ban never reached a process that
had the user cached. Each test here makes that fault for real and expects the cache to fall
back to the TTL within the heartbeat timeout, readiness to say why, and the feed to recover.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.database import create_engine
from app.services.auth.invalidation import CHANNEL, HEARTBEAT_PREFIX
from app.services.platform.metrics import NOTICE_LAG_METRIC, MetricSources, StateCollector
from app.state import AppState
from tests.conftest import make_settings
from tests.support.database import ProvisionedDatabase, create_postgres_database, migrate
from tests.support.jwks_server import JwksServer
from tests.support.keys import generate_key, jwks
from tests.test_identity_cache import Stack, open_stack

# Fast beats so that each fault is found in well under a second.
FAST_FEED: dict[str, Any] = {
    "identity_feed_heartbeat_seconds": 0.1,
    "identity_feed_heartbeat_timeout_seconds": 0.5,
    "identity_cache_fallback_ttl_seconds": 0.3,
}


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    with JwksServer(jwks(generate_key("EdDSA"))) as server:
        yield server


@pytest.fixture
async def private_engine(
    dialect: str, test_database: ProvisionedDatabase
) -> AsyncIterator[AsyncEngine]:
    """A database of its own, migrated: these tests drop triggers."""
    if dialect != "postgresql":
        pytest.skip("the NOTIFY feed is PostgreSQL's")
    admin = make_url(test_database.url).set(database="postgres")
    database = await asyncio.to_thread(
        create_postgres_database, admin.render_as_string(hide_password=False), "bab_feed"
    )
    engine = create_engine(make_settings(database.url))
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(database.cleanup)


async def refused_within(stack: Stack, token: str, seconds: float) -> float:
    """Seconds until the caller is refused (403), failing after ``seconds``."""
    started = time.monotonic()
    while (await stack.me(token)).status_code != 403:
        assert time.monotonic() - started < seconds, "a stale identity was served too long"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def ready(stack: Stack) -> dict[str, Any]:
    response = await stack.client.get("/health/ready")
    assert response.status_code == 200
    feed: dict[str, Any] = response.json()["checks"]["identityFeed"]
    return feed


class TestHeartbeat:
    async def test_beats_while_healthy(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        async with open_stack(private_engine, jwks_server, **FAST_FEED) as stack:
            listener = stack.state.listener
            assert listener is not None
            beats = listener.heartbeats
            await stack.until(lambda: listener.heartbeats >= beats + 3)
            assert stack.state.identity_cache.live
            assert listener.notices == 0  # heartbeats are not change notices
            feed = await ready(stack)
            assert feed["status"] == "ok"
            assert feed["info"]["missingTriggers"] == []
            assert feed["info"]["state"] == "live"
            async with private_engine.connect() as connection:
                rows = (
                    await connection.execute(text("SELECT id FROM bab_identity_heartbeat"))
                ).all()
            assert [row.id.startswith(HEARTBEAT_PREFIX) for row in rows] == [True]

    async def test_lost_listen_falls_back_to_ttl_and_reconnects(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        """A transaction pooler gives the LISTEN's server connection to someone else: the
        connection stays up, the notices stop. Made real here by UNLISTEN on that very
        connection, which is what the pooler's next client would see happen."""
        async with open_stack(private_engine, jwks_server, **FAST_FEED) as stack:
            cache, listener = stack.state.identity_cache, stack.state.listener
            assert listener is not None
            user, token = await stack.user_with_session()
            assert (await stack.me(token)).status_code == 200
            pid = listener.backend_pid
            await listener._connection.execute(f"UNLISTEN {CHANNEL}")  # type: ignore[union-attr]
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            # Heartbeat timeout + the fallback TTL (+ one beat), with room for a busy machine.
            await refused_within(stack, token, 0.1 + 0.5 + 0.3 + 2.0)
            assert listener.heartbeat_misses >= 1
            # It reconnects, LISTENs again, proves the path and trusts the cache again.
            await stack.until(lambda: listener.backend_pid not in (None, pid) and cache.live)
            notices = listener.notices
            await stack.sql('UPDATE "user" SET banned = false WHERE id = :id', id=user.id)
            await stack.settle(notices)
            assert (await stack.me(token)).status_code == 200

    async def test_dropped_trigger_falls_back_and_readiness_says_so(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        async with open_stack(private_engine, jwks_server, **FAST_FEED) as stack:
            cache, listener = stack.state.identity_cache, stack.state.listener
            assert listener is not None
            user, token = await stack.user_with_session()
            assert (await stack.me(token)).status_code == 200
            await stack.sql('DROP TRIGGER user_identity_notify ON "user"')
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            await refused_within(stack, token, 0.1 + 0.5 + 0.3 + 2.0)
            assert not cache.live
            feed = await ready(stack)
            assert feed["status"] == "degraded"
            assert feed["info"]["missingTriggers"] == ["user.user_identity_notify"]
            assert "user.user_identity_notify" in feed["detail"]
            assert listener.missing_triggers == ("user.user_identity_notify",)
            # Put back (as the migration does): the feed trusts itself again after a flush.
            await stack.sql(
                'CREATE TRIGGER user_identity_notify AFTER UPDATE OR DELETE ON "user" '
                "FOR EACH ROW EXECUTE FUNCTION bab_notify_user_change()"
            )
            await stack.until(lambda: cache.live)
            assert (await ready(stack))["status"] == "ok"
            notices = listener.notices
            await stack.sql('UPDATE "user" SET banned = false WHERE id = :id', id=user.id)
            await stack.settle(notices)
            assert (await stack.me(token)).status_code == 200

    async def test_disabled_trigger_is_missing(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        async with open_stack(private_engine, jwks_server, **FAST_FEED) as stack:
            await stack.sql('ALTER TABLE "session" DISABLE TRIGGER session_identity_notify')
            cache = stack.state.identity_cache
            await stack.until(lambda: not cache.live)
            feed = await ready(stack)
            assert feed["status"] == "degraded"
            assert feed["info"]["missingTriggers"] == ["session.session_identity_notify"]
            await stack.sql('ALTER TABLE "session" ENABLE TRIGGER session_identity_notify')
            await stack.until(lambda: cache.live)

    async def test_missing_heartbeat_table_never_trusts_the_feed(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        """A database not migrated to 0004: the feed cannot prove itself, so the TTL rules."""
        async with private_engine.begin() as connection:
            await connection.execute(text("DROP TABLE bab_identity_heartbeat"))
        async with open_stack(
            private_engine, jwks_server, wait_for_feed=False, **FAST_FEED
        ) as stack:
            user, token = await stack.user_with_session()
            assert (await stack.me(token)).status_code == 200
            await stack.sql('UPDATE "user" SET banned = true WHERE id = :id', id=user.id)
            await refused_within(stack, token, 0.3 + 2.0)
            assert not stack.state.identity_cache.live
            feed = await ready(stack)
            assert feed["status"] == "degraded"
            assert (
                "bab_identity_heartbeat.identity_heartbeat_notify"
                in feed["info"]["missingTriggers"]
            )


def metric_sources(state: AppState) -> MetricSources:
    return MetricSources(
        identity_cache=state.identity_cache,
        key_cache=state.key_cache,
        rate_limiter=state.rate_limiter,
        listener=state.listener,
    )


class TestNoticeLag:
    async def test_each_beat_observes_its_notice_lag(
        self, private_engine: AsyncEngine, jwks_server: JwksServer
    ) -> None:
        """``bab_invalidation_notice_lag_seconds``: one observation per echoed heartbeat, the
        time from its COMMIT to its notice (parsed with prometheus-client's own parser)."""
        async with open_stack(private_engine, jwks_server, **FAST_FEED) as stack:
            listener = stack.state.listener
            assert listener is not None
            # The collector that /metrics registers in one process (main.py wires it).
            registry = CollectorRegistry()
            registry.register(StateCollector(metric_sources(stack.state)))
            beats = listener.heartbeats
            await stack.until(lambda: listener.heartbeats >= beats + 3)
            text = generate_latest(registry).decode()
        families = {family.name: family for family in text_string_to_metric_families(text)}
        family = families[NOTICE_LAG_METRIC]
        assert family.type == "histogram"
        samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
        count = samples[(f"{NOTICE_LAG_METRIC}_count", None)]
        # Every beat proven since the histogram was wired was observed, and nothing else.
        assert 3 <= count <= listener.heartbeats
        assert samples[(f"{NOTICE_LAG_METRIC}_bucket", "+Inf")] == count
        assert samples[(f"{NOTICE_LAG_METRIC}_sum", None)] > 0
        assert listener.last_notice_lag is not None
        assert listener.last_notice_lag > 0


class TestDefaults:
    def test_heartbeat_settings(self) -> None:
        settings = make_settings("sqlite+aiosqlite:///:memory:")
        assert settings.identity_feed_heartbeat_seconds == 2.0
        assert settings.identity_feed_heartbeat_timeout_seconds == 3.0
