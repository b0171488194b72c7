"""Immutable copies of the rows the authentication path needs, safe to share across requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models.session import AuthSession
from app.models.user import User
from app.services.platform.snapshots import snapshot_of


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
        return snapshot_of(cls, user)


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
        return snapshot_of(cls, session)
