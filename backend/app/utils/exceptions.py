"""One error shape for everything: RFC 9457 ``application/problem+json`` with a stable code."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
from asyncpg.exceptions import PostgresConnectionError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from app.utils.errors import AppError, DatabaseQueueTimeout
from app.utils.logging import get_logger
from app.utils.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
DATABASE_RETRY_AFTER_SECONDS = 5

logger = get_logger(__name__)

# Codes for errors Starlette raises itself (routing, method matching, body parsing).
_HTTP_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    431: "HEADERS_TOO_LARGE",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    instance: str,
    title: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        # Better-Auth's errors read {code, message, status}: a frontend handles both servers'
        # errors with one handler.
        "message": detail,
        "instance": instance,
        "code": code,
        "requestId": current_request_id(),
    }
    if extra:
        body.update(extra)
    return body


def problem_response(
    request_path: str,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    body = problem_body(
        status=status, code=code, detail=detail, instance=request_path, title=title, extra=extra
    )
    return ProblemResponse(jsonable_encoder(body), status_code=status, headers=dict(headers or {}))


async def _app_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        request.url.path,
        status=exc.status,
        code=exc.code,
        detail=exc.detail,
        title=exc.title,
        headers=exc.headers,
        extra=exc.extra,
    )


# FastAPI's own answer to a body it cannot decode (not UTF-8, bad encoding): a client input
# error like malformed JSON, so it gets the same 422 as malformed JSON does.
_BODY_PARSE_ERROR = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and exc.detail == _BODY_PARSE_ERROR:
        return problem_response(
            request.url.path,
            status=422,
            code="VALIDATION_ERROR",
            detail="the request body could not be decoded",
            extra={
                "errors": [
                    {"loc": ["body"], "msg": "body is not valid UTF-8 JSON", "type": "json_invalid"}
                ]
            },
        )
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    return problem_response(
        request.url.path,
        status=status,
        code=_HTTP_STATUS_CODES.get(status, f"HTTP_{status}"),
        detail=detail,
        headers=exc.headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only loc/msg/type: pydantic's "input" and "ctx" may echo secrets the client sent.
    return [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    return problem_response(
        request.url.path,
        status=422,
        code="VALIDATION_ERROR",
        detail=f"{len(errors)} invalid input(s)",
        extra={"errors": errors},
    )


# SQLSTATEs of a server that is going away, not back yet or full, which asyncpg raises as a
# plain DBAPIError (it has no OperationalError): class 08 (connection exception), admin or crash
# shutdown and "the database system is shutting down / starting up" (57P01-57P03: a restart or
# a failover), and too many connections (53300).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def _is_database_outage(exc: Exception) -> bool:
    """Connection-level failures are outages (503); constraint or SQL errors are bugs (500)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    if isinstance(exc, AsyncpgInterfaceError | PostgresConnectionError):
        # Raised unwrapped when the backend dies while SQLAlchemy sets up a new connection
        # (its on-connect codec setup): "connection is closed".
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return exc.connection_invalidated or str(sqlstate or "").startswith(_OUTAGE_SQLSTATES)


async def _database_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    if not _is_database_outage(exc):
        raise exc
    busy = isinstance(exc, DatabaseQueueTimeout)  # overload, not an outage: same answer shape
    logger.warning(
        "database busy" if busy else "database unavailable",
        error=type(exc).__name__,
        path=request.url.path,
    )
    return problem_response(
        request.url.path,
        status=503,
        code="DATABASE_UNAVAILABLE",
        detail=f"the database is {'busy' if busy else 'unavailable'}; retry shortly",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_exception_handlers(app: FastAPI) -> None:
    """Register the renderers. Unexpected exceptions are caught by the request middleware."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error_type in (
        OperationalError,
        InterfaceError,
        PoolTimeoutError,
        DBAPIError,
        OSError,
        AsyncpgInterfaceError,
        PostgresConnectionError,
    ):
        app.add_exception_handler(error_type, _database_unavailable)
