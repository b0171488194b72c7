"""Schemas of the /auth endpoints."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from app.schemas.base import CamelModel, IsoDateTime, examples


class SessionInfo(CamelModel):
    """How the caller is authenticated."""

    model_config = examples(
        {
            "userId": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
            "roles": ["user"],
            "tokenType": "jwt",
            "issuedAt": "2026-11-26T17:46:11.000Z",
            "expiresAt": "2026-11-26T18:01:11.000Z",
            "sessionId": None,
            "impersonatedBy": None,
        }
    )

    user_id: str
    roles: list[str]
    token_type: Literal["jwt", "session", "api_key"]
    issued_at: IsoDateTime | None
    expires_at: IsoDateTime
    session_id: str | None = None
    # Set when an admin impersonates the user (Better-Auth's impersonate-user session), for
    # that session's token and for a JWT whose `sid` names it; null for a JWT without `sid`.
    impersonated_by: str | None = None


class IntrospectionRequest(CamelModel):
    token: str = Field(min_length=1, max_length=65536, examples=["eyJhbGciOiJFZERTQSIs..."])


class IntrospectionResponse(CamelModel):
    """RFC 7662-style answer: ``active`` plus claims, or ``active: false`` and a reason code."""

    model_config = examples(
        {
            "active": True,
            "sub": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
            "tokenType": "jwt",
            "exp": 1795716457,
            "iat": 1795715557,
            "iss": "http://localhost:3000",
            "aud": "http://localhost:3000",
            "roles": ["user"],
        },
        {"active": False, "code": "TOKEN_EXPIRED"},
    )

    active: bool
    code: str | None = None
    sub: str | None = None
    token_type: Literal["jwt", "session"] | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    roles: list[str] | None = None
    session_id: str | None = None

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
