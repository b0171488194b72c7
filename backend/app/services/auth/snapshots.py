"""Immutable copies of the rows the authentication path needs, safe to share across requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models.session import AuthSession
from app.models.user import User


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """A ``user`` row as read at one instant (the API's view of the caller)."""

    id: str
    name: str
    email: str
    email_verified: bool
    image: str | None
    created_at: datetime
    updated_at: datetime
    role: str | None
    banned: bool | None
    ban_reason: str | None
    ban_expires: datetime | None

    @classmethod
    def of(cls, user: User) -> UserSnapshot:
        return cls(
            id=user.id,
            name=user.name,
            email=user.email,
            email_verified=user.email_verified,
            image=user.image,
            created_at=user.created_at,
            updated_at=user.updated_at,
            role=user.role,
            banned=user.banned,
            ban_reason=user.ban_reason,
            ban_expires=user.ban_expires,
        )


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """What authentication needs of a ``session`` row (never its token)."""

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    impersonated_by: str | None = None

    @classmethod
    def of(cls, session: AuthSession) -> SessionSnapshot:
        return cls(
            id=session.id,
            user_id=session.user_id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            impersonated_by=session.impersonated_by,
        )
