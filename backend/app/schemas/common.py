"""Shared response schemas: the problem document (RFC 9457) and health answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.base import examples


class FieldError(BaseModel):
    """One invalid input: where it is, what is wrong, and a machine-readable type."""

    loc: list[str | int] = Field(examples=[["body", "role"]])
    msg: str = Field(examples=["Input should be 'user' or 'admin'"])
    type: str = Field(examples=["literal_error"])


class Problem(BaseModel):
    """Every error this API returns, as ``application/problem+json``."""

    model_config = examples(
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "token has expired",
            "message": "token has expired",
            "instance": "/api/v1/auth/me",
            "code": "TOKEN_EXPIRED",
            "requestId": "4f1c2a7e9b0d4c3e8a1f2b3c4d5e6f70",
        },
        extra="allow",
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    message: str = Field(
        description="The same text as `detail`: Better-Auth's client reads `{code, message, "
        "status}` from an error, so one error handler serves both servers"
    )
    instance: str
    code: str = Field(description="Stable machine-readable error code")
    requestId: str | None = Field(default=None, description="The request's X-Request-ID")  # noqa: N815
    errors: list[FieldError] | None = Field(
        default=None, description="Field errors, for validation failures (422)"
    )


class LiveStatus(BaseModel):
    status: Literal["ok"] = "ok"


class CheckResult(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    detail: str | None = None
    info: dict[str, Any] | None = None


class ReadyStatus(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, CheckResult]
