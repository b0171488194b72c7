"""Immutable copies of the rows the authentication path needs, safe to share across requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.services.platform.snapshots import RowSnapshot


@dataclass(frozen=True, slots=True)
class UserSnapshot(RowSnapshot):
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


@dataclass(frozen=True, slots=True)
class SessionSnapshot(RowSnapshot):
    """What authentication needs of a ``session`` row (never its token)."""

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    impersonated_by: str | None = None
