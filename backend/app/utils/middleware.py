"""The one pure ASGI middleware every HTTP request passes through, once.

It applies, in one wrapper around the app (each wrapper layer costs every request an await and
a closure call per message, which on the cached hot path is a measurable share):

- the request id (``X-Request-ID``: the caller's when sane, else minted), set for logs and
  audit rows and returned on the response;
- the size limits and security headers of ``app.utils.security`` (a 413/431 goes out before
  the app sees the request);
- the Prometheus request count and latency by route template (``app.utils.metrics``);
- one access-log line per request (INFO);
- the last-resort 500: an unexpected exception is logged once, with its traceback, and
  answered without internals.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.utils.exceptions import PROBLEM_MEDIA_TYPE, problem_body
from app.utils.logging import get_logger
from app.utils.metrics import Metrics, RouteTemplates
from app.utils.request_context import REQUEST_ID_HEADER, accept_request_id, request_id_var
from app.utils.security import BodyTooLarge, Refusal, RequestLimits, security_headers

logger = get_logger("app.access")
# The access line is INFO: below that level its fields are not even gathered.
_access_level = logging.getLogger("app.access")
error_logger = get_logger("app.errors")
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        metrics: Metrics | None = None,
        unmetered: Collection[str] = (),
    ) -> None:
        self.app = app
        self.limits = RequestLimits.from_settings(settings)
        self.docs_enabled = settings.docs_enabled
        self.metrics = metrics
        self.unmetered = frozenset(unmetered)
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = accept_request_id(_header(scope, _REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        extra_headers = security_headers(scope, docs_enabled=self.docs_enabled)
        status: int | None = None

        async def respond(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                # The route's own choice wins; the request id is always ours.
                headers.extend(item for item in extra_headers if item[0] not in present)
                headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        async def refuse_body() -> None:
            if status is None:
                await _send_refusal(scope, respond, self.limits.body_refusal())

        body: _BodyLimit | None = None
        try:
            refusal, has_body = self.limits.check_head(scope)
            if refusal is not None:
                await _send_refusal(scope, respond, refusal)
            elif not has_body:
                # Without a length or chunked encoding no body can follow: nothing to count,
                # and no 413 can cut the answer short (one wrapper less per message).
                await self.app(scope, receive, respond)
            else:
                body = _BodyLimit(receive, self.limits.max_body_bytes, refuse_body)
                await self.app(scope, body.receive, body.send(respond))
        except Exception:
            # After a 413 the client has its answer, whatever the app made of BodyTooLarge.
            if body is None or not body.refused:
                error_logger.exception("unhandled exception", path=scope.get("path"))
                if status is not None:
                    raise  # the response had started; the connection is all that is left
                await _send_internal_error(scope, respond)
        finally:
            self._account(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)

    def _account(self, scope: Scope, status: int | None, seconds: float) -> None:
        if self.metrics is not None and scope.get("path") not in self.unmetered:
            method = str(scope.get("method", ""))
            self.metrics.observe(method, self.templates.of(scope), status or 500, seconds)
        if _access_level.isEnabledFor(logging.INFO):
            logger.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round(seconds * 1000, 2),
                client=(scope.get("client") or ("-",))[0],
            )


# Before a 413 mid-body, what the client is still sending is read and dropped (up to this much):
# the server closes after the 413, and closing with unread bytes makes the kernel answer with a
# reset, which can destroy the 413 before the client reads it. (Once the answer is complete,
# uvicorn's receive() reports a disconnect, so the draining must come first.)
DRAIN_LIMIT_BYTES = 1024 * 1024


class _BodyLimit:
    """The request's ``receive``, counting the body: over the limit, the rest of the body is
    drained, the 413 sent (if nothing was answered yet) and the app stopped."""

    def __init__(
        self, receive: Receive, max_bytes: int, refuse: Callable[[], Awaitable[None]]
    ) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._refuse = refuse
        self._received = 0
        self.refused = False

    def send(self, respond: Send) -> Send:
        """``respond`` until the body was refused: after the 413 the app's late answer is
        dropped."""

        async def send(message: Message) -> None:
            if not self.refused:
                await respond(message)

        return send

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not self.refused:
            self._received += len(message.get("body", b""))
            if self._received > self._max_bytes:
                if message.get("more_body", False):
                    await _drain(self._receive, DRAIN_LIMIT_BYTES)
                await self._refuse()
                self.refused = True
                raise BodyTooLarge
        return message


async def _drain(receive: Receive, limit: int) -> None:
    drained = 0
    while drained <= limit:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


async def _send_refusal(scope: Scope, send: Send, refusal: Refusal) -> None:
    for message in refusal.messages(scope):
        await send(message)


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
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
