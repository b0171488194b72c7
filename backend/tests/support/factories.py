"""Rows shaped the way Better-Auth writes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuthSession, User, generate_id


async def create_user(
    db: AsyncSession,
    *,
    role: str | None = "user",
    banned: bool | None = False,
    ban_expires: datetime | None = None,
    ban_reason: str | None = None,
    email: str | None = None,
    name: str = "Test User",
    created_at: datetime | None = None,
) -> User:
    user_id = generate_id()
    user = User(
        id=user_id,
        name=name,
        email=email or f"{user_id.lower()}@example.com",
        email_verified=False,
        role=role,
        banned=banned,
        ban_expires=ban_expires,
        ban_reason=ban_reason,
    )
    if created_at is not None:
        user.created_at = created_at
    db.add(user)
    await db.flush()
    return user


async def create_session(
    db: AsyncSession,
    user: User,
    *,
    expires_in: timedelta = timedelta(days=7),
    token: str | None = None,
) -> AuthSession:
    session = AuthSession(
        user_id=user.id,
        token=token or generate_id(),
        expires_at=datetime.now(UTC) + expires_in,
        ip_address="127.0.0.1",
        user_agent="pytest",
    )
    db.add(session)
    await db.flush()
    return session


def sign_session_token(token: str, secret: str) -> str:
    """``TOKEN.SIGNATURE`` as Better-Auth's bearer plugin and cookie carry it."""
    mac = hmac.new(secret.encode(), token.encode(), hashlib.sha256).digest()
    return f"{token}.{base64.b64encode(mac).decode()}"
