"""User representations. Never carries account secrets or session tokens."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from app.schemas.base import CamelModel, IsoDateTime

USER_EXAMPLE: dict[str, Any] = {
    "id": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "emailVerified": True,
    "image": None,
    "createdAt": "2026-11-26T17:46:11.446Z",
    "updatedAt": "2026-11-26T17:46:11.446Z",
    "role": "user",
    "banned": False,
    "banReason": None,
    "banExpires": None,
}


class UserRead(CamelModel):
    """A user as Better-Auth's API shows it (field names and date format)."""

    model_config = ConfigDict(json_schema_extra={"examples": [USER_EXAMPLE]})

    id: str
    name: str
    email: str
    email_verified: bool
    image: str | None
    created_at: IsoDateTime
    updated_at: IsoDateTime
    role: str | None
    banned: bool | None
    ban_reason: str | None
    ban_expires: IsoDateTime | None
