"""Typed application errors.

Services raise these; ``app.utils.exceptions`` renders every one of them as
``application/problem+json`` (RFC 9457). This module imports nothing from FastAPI so that
services can use it (imports run routers -> services -> models; utils is below everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class AppError(Exception):
    """An error with a stable machine ``code``, an HTTP status and a human title."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal Server Error"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        # A subclass declares its status, code and title in its class line (see below).
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.default_code = code
        if title is not None:
            cls.title = title

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.detail = detail or self.title
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(f"{self.code}: {self.detail}")


# The plain errors differ only in status, code and title: one line each.
class BadRequest(AppError, status=400, code="BAD_REQUEST", title="Bad Request"):
    pass


class Forbidden(AppError, status=403, code="FORBIDDEN", title="Forbidden"):
    pass


class NotFound(AppError, status=404, code="NOT_FOUND", title="Not Found"):
    pass


class Conflict(AppError, status=409, code="CONFLICT", title="Conflict"):
    pass


class UnprocessableEntity(
    AppError, status=422, code="VALIDATION_ERROR", title="Unprocessable Content"
):
    pass


class Unauthorized(AppError, status=401, code="TOKEN_INVALID", title="Unauthorized"):
    """401 with an RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        realm: str = "api",
        token_present: bool = True,
    ) -> None:
        description = (detail or self.title).replace('"', "'")
        # RFC 6750 §3.1: no error attribute when the request carried no credentials at all.
        challenge = (
            f'Bearer realm="{realm}", error="invalid_token", error_description="{description}"'
            if token_present
            else f'Bearer realm="{realm}"'
        )
        super().__init__(detail, code=code, headers={"WWW-Authenticate": challenge})


def retry_after_headers(seconds: int | None) -> dict[str, str]:
    """``Retry-After`` of at least one second, or no header when there is no estimate."""
    return {} if seconds is None else {"Retry-After": str(max(1, seconds))}


class TooManyRequests(AppError, status=429, code="RATE_LIMITED", title="Too Many Requests"):
    def __init__(
        self, detail: str | None = None, *, retry_after: int, code: str | None = None
    ) -> None:
        super().__init__(detail, code=code, headers=retry_after_headers(retry_after))


class ServiceUnavailable(
    AppError, status=503, code="SERVICE_UNAVAILABLE", title="Service Unavailable"
):
    def __init__(
        self, detail: str | None = None, *, code: str | None = None, retry_after: int = 5
    ) -> None:
        super().__init__(detail, code=code, headers=retry_after_headers(retry_after))


class DatabaseQueueTimeout(PoolTimeoutError):
    """Queued for a database connection longer than ``DATABASE_QUEUE_TIMEOUT_SECONDS``
    (``app.pool``): the database is busy, not down. Rendered like the pool's own timeout, 503
    ``DATABASE_UNAVAILABLE`` with ``Retry-After``, with a detail that says "busy"."""


def invalid_field(
    loc: list[str | int], message: str, *, code: str, error_type: str = "value_error"
) -> UnprocessableEntity:
    """A 422 raised by a service, shaped like a request-validation error (``errors`` list)."""
    return UnprocessableEntity(
        message,
        code=code,
        extra={"errors": [{"loc": loc, "msg": message, "type": error_type}]},
    )
