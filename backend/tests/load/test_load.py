"""A bounded load test in CI: a real uvicorn (one worker) on PostgreSQL, 100 concurrent clients
for ``LOAD_SECONDS`` (default 20) of mixed reads and admin writes (see ``workload.py``).

Passes only with zero 5xx, zero transport errors, no unexpected answer, and zero lost writes:
every acknowledged role change, ban and unban is in the database (each user's final state is
its last acknowledged write) and in the audit log (one row per acknowledged write, by request
id). Prints a one-line summary (requests, rps, p50/p95/p99). PostgreSQL only.
"""

from __future__ import annotations

import os
import sys

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from devstack.processes import running_api
from tests.conftest import TEST_AUTH_URL, TEST_SECRET
from tests.load.workload import (
    KNOWN_ROLES,
    POOL_FOR_100_CLIENTS,
    Ack,
    Credentials,
    Mix,
    Result,
    cleanup,
    seed,
    verify,
)
from tests.support.jwks_server import JwksServer
from tests.support.keys import generate_key, jwks

pytestmark = pytest.mark.load

USERS = 50
ADMINS = 3
CLIENTS = 100
WRITERS = 10


def load_seconds() -> float:
    return float(os.environ.get("LOAD_SECONDS", "20"))


async def test_mixed_load(
    settings: Settings, engine: AsyncEngine, dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if dialect != "postgresql":
        pytest.skip("the load test runs on PostgreSQL only")
    key = generate_key("EdDSA")
    population = await seed(engine, users=USERS, admins=ADMINS)
    try:
        with (
            JwksServer(jwks(key)) as jwks_server,
            running_api(
                settings.database_url,
                BETTER_AUTH_URL=TEST_AUTH_URL,
                BETTER_AUTH_SECRET=TEST_SECRET,
                JWKS_URL=jwks_server.url,
                KNOWN_ROLES=KNOWN_ROLES,
                **POOL_FOR_100_CLIENTS,
            ) as api,
        ):
            credentials = Credentials(population, key, TEST_AUTH_URL)
            mix = Mix(api.url, population, credentials, clients=CLIENTS, writers=WRITERS, seed=7)
            result = await mix.run(load_seconds())
            output = api.output()
        problems = await verify(engine, population, result)
    finally:
        await cleanup(engine, population)
    with capsys.disabled():
        sys.stdout.write(f"\n{result.summary()}\n")

    assert result.server_errors == 0, (result.statuses, result.unexpected[:10], output[-3000:])
    assert not result.transport_errors, result.transport_errors[:10]
    assert not result.unexpected, result.unexpected[:10]
    assert not problems, problems[:20]
    for kind in ("role", "ban", "unban"):
        assert result.acked(kind), f"no {kind} was acknowledged: the mix did not run"
    assert "Traceback" not in output, output


async def test_the_check_catches_a_lost_write(engine: AsyncEngine) -> None:
    """The verification is not vacuous: an acknowledged ban that is neither in the user row nor
    in the audit log is reported twice; nothing acknowledged, nothing reported."""
    population = await seed(engine, users=2, admins=1)
    try:
        assert await verify(engine, population, Result()) == []
        lost = Result()
        lost.acks[population.user_ids[0]].append(Ack("ban", True, "acknowledged-but-lost"))
        problems = await verify(engine, population, lost)
    finally:
        await cleanup(engine, population)
    assert len(problems) == 2, problems
    assert "last ack" in problems[0]
    assert problems[1].startswith("user.ban: 1 acknowledged, 0 audit rows")
