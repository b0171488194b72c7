"""Pure ASGI middleware: request id, one access-log line per request, and the last-resort
500 handler (so an unexpected exception is logged once, with its traceback, and answered
without internals)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.utils.exceptions import PROBLEM_MEDIA_TYPE, problem_body
from app.utils.logging import get_logger
from app.utils.request_context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from app.utils.security import security_headers

logger = get_logger("app.access")
# The access line is INFO: below that level its fields are not even gathered.
_access_level = logging.getLogger("app.access")
error_logger = get_logger("app.errors")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_header(scope, REQUEST_ID_HEADER.encode()))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": None}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception("unhandled exception", path=scope.get("path"))
            if state["status"] is None:
                await self._send_internal_error(scope, send_with_id)
            else:
                # The response had already started; the connection is the only thing left.
                raise
        finally:
            if _access_level.isEnabledFor(logging.INFO):
                self._log_access(scope, state["status"], started)
            request_id_var.reset(token)

    @staticmethod
    def _log_access(scope: Scope, status: int | None, started: float) -> None:
        logger.info(
            "request",
            method=scope.get("method"),
            path=scope.get("path"),
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            client=(scope.get("client") or ("-",))[0],
        )

    @staticmethod
    async def _send_internal_error(scope: Scope, send: Send) -> None:
        body = problem_body(
            status=500,
            code="INTERNAL_ERROR",
            detail="an unexpected error occurred; it has been logged",
            instance=str(scope.get("path", "")),
        )
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    # This answer starts outside SecurityMiddleware: add its headers here.
                    *security_headers(scope),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
