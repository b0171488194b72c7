"""Fixtures of the security suite: real keys of every family Better-Auth can mint, a real JWKS
server publishing them, an attacker's JWKS server that must never be contacted, users in every
state, and the real app reached over ``httpx.ASGITransport``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.models import User
from tests.conftest import build_test_app, make_settings
from tests.security.helpers import KeyRing, World, session_token_with_base64_symbols
from tests.support.factories import create_session, create_user
from tests.support.jwks_server import JwksServer
from tests.support.keys import generate_key, jwks


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing(
        eddsa=generate_key("EdDSA"),
        rs256=generate_key("RS256"),
        ps256=generate_key("PS256"),
        es256=generate_key("ES256"),
        es512=generate_key("ES512"),
        attacker_eddsa=generate_key("EdDSA", kid="attacker-eddsa"),
        attacker_rs256=generate_key("RS256", kid="attacker-rs256"),
        attacker_es256=generate_key("ES256", kid="attacker-es256"),
    )


@pytest.fixture(scope="session")
def jwks_server(keyring: KeyRing) -> Iterator[JwksServer]:
    with JwksServer(jwks(*keyring.published)) as server:
        yield server


@pytest.fixture(scope="session")
def attacker_server(keyring: KeyRing) -> Iterator[JwksServer]:
    """Publishes the attacker's keys. ``jku``/``x5u`` headers point here; it must stay unvisited."""
    with JwksServer(jwks(*keyring.attackers)) as server:
        yield server


@pytest.fixture(scope="module")
async def security_app(
    settings: Settings, engine: AsyncEngine, jwks_server: JwksServer
) -> AsyncIterator[FastAPI]:
    """The real app around the test engine, shared by a module of tests that only read.

    Built by ``build_test_app`` like ``app_factory``'s apps, but once per module: the corpus has
    hundreds of rows and authentication never writes. It uses its own database sessions, so it
    sees the committed rows of ``world``. Rate limits are off (no refusal masked by a 429); logs
    are JSON (the "never logged" checks read every record, and a regression to a 500 must not
    spend a minute rendering a console traceback with locals).
    """
    app_settings = make_settings(
        settings.database_url,
        jwks_url=jwks_server.url,
        rate_limit_enabled=False,
        log_format="json",
    )
    app, state = build_test_app(app_settings, engine)
    try:
        yield app
    finally:
        await state.key_cache.aclose()
        await state.http_client.aclose()


@pytest.fixture(scope="module")
async def http(security_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=security_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture(scope="module")
async def world(
    engine: AsyncEngine, keyring: KeyRing, attacker_server: JwksServer
) -> AsyncIterator[World]:
    """Users in every state and their sessions, committed for the module and removed after
    (the app reads them through its own sessions, as it would in production)."""
    async with AsyncSession(engine, expire_on_commit=False) as db:
        user = await create_user(db, name="Alice")
        other = await create_user(db, name="Bob")
        banned = await create_user(db, banned=True, ban_reason="spam")
        doomed = await create_user(db)
        session = await create_session(db, user, token=session_token_with_base64_symbols())
        other_session = await create_session(db, other)
        expired = await create_session(db, user, expires_in=timedelta(seconds=-60))
        banned_session = await create_session(db, banned)
        doomed_session = await create_session(db, doomed)
        await db.commit()
        # A core DELETE, as a user removal does: the session goes with it (ON DELETE CASCADE).
        await db.execute(delete(User).where(User.id == doomed.id))
        await db.commit()
        created = [user.id, other.id, banned.id]
        yield World(
            keys=keyring,
            user_id=user.id,
            other_id=other.id,
            banned_id=banned.id,
            deleted_id=doomed.id,
            session_token=session.token,
            other_session_token=other_session.token,
            banned_session_token=banned_session.token,
            expired_session_token=expired.token,
            deleted_session_token=doomed_session.token,
            now=int(time.time()),
            attacker_url=attacker_server.url,
        )
        await db.execute(delete(User).where(User.id.in_(created)))
        await db.commit()
