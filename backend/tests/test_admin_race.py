"""Two admins demoting (or banning) each other at the same instant never leave zero admins.

Real concurrency: committed rows, the real session factory (one connection per request), two
requests in flight together against PostgreSQL's row locks.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import delete, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import AuditEvent, User
from app.services.users.query import has_role
from tests.conftest import build_test_app, make_settings
from tests.support.factories import create_session, create_user

ROUNDS = 8


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PUT", "/role", {"role": "user"}), ("POST", "/ban", {}), ("DELETE", "", None)],
)
async def test_mutual_demotion_keeps_an_admin(
    engine: AsyncEngine, dialect: str, method: str, suffix: str, body: dict[str, str] | None
) -> None:
    if dialect != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers itself")
    settings = make_settings(
        engine.url.render_as_string(hide_password=False), rate_limit_enabled=False
    )
    app, state = build_test_app(settings, engine)
    created: list[str] = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(ROUNDS):
                async with AsyncSession(engine, expire_on_commit=False) as db:
                    # Only these two are admins: clear any other admin first.
                    others = (await db.scalars(select(User).where(has_role("admin")))).all()
                    for other in others:
                        other.role = "user"
                    first = await create_user(db, role="admin")
                    second = await create_user(db, role="admin")
                    tokens = [
                        (await create_session(db, first)).token,
                        (await create_session(db, second)).token,
                    ]
                    await db.commit()
                created += [first.id, second.id]
                responses = await asyncio.gather(
                    client.request(
                        method,
                        f"/api/v1/users/{second.id}{suffix}",
                        json=body,
                        headers={"Authorization": f"Bearer {tokens[0]}"},
                    ),
                    client.request(
                        method,
                        f"/api/v1/users/{first.id}{suffix}",
                        json=body,
                        headers={"Authorization": f"Bearer {tokens[1]}"},
                    ),
                )
                statuses = sorted(r.status_code for r in responses)
                assert statuses[0] in {200, 204}, [r.text for r in responses]
                assert statuses[1] in {401, 403, 409}, [r.text for r in responses]
                async with AsyncSession(engine) as db:
                    admins = (
                        await db.scalars(
                            select(User.id).where(
                                has_role("admin"), User.id.in_([first.id, second.id])
                            )
                        )
                    ).all()
                    if method == "POST":
                        admins = (
                            await db.scalars(
                                select(User.id).where(
                                    User.id.in_([first.id, second.id]),
                                    User.banned.is_not(true()),
                                )
                            )
                        ).all()
                assert len(admins) == 1
    finally:
        await state.key_cache.aclose()
        await state.http_client.aclose()
        async with AsyncSession(engine) as db:
            await db.execute(delete(User).where(User.id.in_(created)))
            await db.execute(delete(AuditEvent).where(AuditEvent.target_id.in_(created)))
            await db.commit()
