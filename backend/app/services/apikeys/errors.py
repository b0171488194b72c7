"""Refusals with the plugin's codes and statuses (``API_KEY_ERROR_CODES``, verify-api-key.ts).

The detail is the plugin's message; none of them ever carries the key or its hash.
"""

from __future__ import annotations

from app.utils.errors import AppError, Unauthorized, retry_after_headers

REALM = "api"


def invalid_api_key() -> Unauthorized:
    return Unauthorized("Invalid API key.", code="INVALID_API_KEY", realm=REALM)


def key_disabled() -> Unauthorized:
    return Unauthorized("API Key is disabled", code="KEY_DISABLED", realm=REALM)


def key_expired() -> Unauthorized:
    return Unauthorized("API Key has expired", code="KEY_EXPIRED", realm=REALM)


def invalid_owner() -> Unauthorized:
    return Unauthorized(
        "The reference id from the API key is invalid.",
        code="INVALID_REFERENCE_ID_FROM_API_KEY",
        realm=REALM,
    )


class ApiKeyTooManyRequests(AppError, status=429, code="RATE_LIMITED", title="Too Many Requests"):
    """429, as the plugin answers ``USAGE_EXCEEDED`` and ``RATE_LIMITED``.

    Unlike ``TooManyRequests`` the plugin may have no estimate, and then sends no ``Retry-After``.
    """

    def __init__(self, detail: str, *, code: str, retry_after: int | None) -> None:
        super().__init__(detail, code=code, headers=retry_after_headers(retry_after))


def usage_exceeded(retry_after: int | None) -> ApiKeyTooManyRequests:
    return ApiKeyTooManyRequests(
        "API Key has reached its usage limit", code="USAGE_EXCEEDED", retry_after=retry_after
    )


def rate_limited(retry_after: int) -> ApiKeyTooManyRequests:
    return ApiKeyTooManyRequests(
        "Rate limit exceeded.", code="RATE_LIMITED", retry_after=retry_after
    )
