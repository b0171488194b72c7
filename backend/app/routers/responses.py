"""Error responses declared on routes, so the OpenAPI contract lists every problem answer."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from app.schemas.common import Problem

_DESCRIPTIONS = {
    400: "Refused by a rule of Better-Auth's admin plugin (`code` names it)",
    401: "Missing, invalid or expired credentials (see `WWW-Authenticate`)",
    403: "Authenticated but not allowed: a missing permission (Better-Auth's `code`, "
    "e.g. `YOU_ARE_NOT_ALLOWED_TO_BAN_USERS`), a ban, or a cookie-authenticated write from "
    "an untrusted origin (`INVALID_ORIGIN`)",
    404: "No such resource",
    409: "The request conflicts with the current state",
    422: "Invalid input; `errors` lists each field",
    500: "An organization's dynamic role is stored with invalid permissions "
    "(`INVALID_ROLE_PERMISSIONS`; Better-Auth fails the same check)",
    429: "Rate limit (or failed-authentication limit) exceeded; retry after `Retry-After` seconds",
    503: "A dependency (database or key source) is unavailable; retry after `Retry-After`",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in statuses
    }


def no_content(*statuses: int) -> dict[str, Any]:
    """Route options for a 204 answer with no body, which may fail with ``statuses``."""
    return {
        "status_code": 204,
        "response_class": Response,
        "responses": problem_responses(*statuses),
    }
