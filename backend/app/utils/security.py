"""Security headers on every response, and request size limits (applied by
``app.utils.middleware.EdgeMiddleware``).

Headers (set unless the route already chose its own value):

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY``, ``Cross-Origin-Resource-Policy: same-origin``;
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` on API responses
  (JSON never needs to load anything). Swagger UI and ReDoc (``/docs``, ``/redoc``) load their
  scripts, styles and favicon from this app (``app.routers.docs``; no CDN, no inline script):
  they get a policy that allows scripts from 'self' only, connections to 'self' only (Swagger
  UI's "Try it out"), and still forbids framing, plugins and forms. Styles allow
  'unsafe-inline': ReDoc's styled-components inject ``<style>`` elements at run time with no way
  to pass them a nonce, and a style cannot run code. ReDoc's search runs in a ``blob:`` worker.
  With ``DOCS_ENABLED=false`` those paths are 404s like any other and get the strict policy;
- ``Strict-Transport-Security`` only when the request reached us over https (``scope["scheme"]``,
  which uvicorn's ``--proxy-headers`` sets from a trusted proxy's ``X-Forwarded-Proto``): HSTS
  on plain http is ignored by browsers and only confuses.

Limits, answered as ``application/problem+json`` before the app sees the request:

- body: a ``Content-Length`` above ``max_body_bytes`` is refused with 413 ``PAYLOAD_TOO_LARGE``
  without reading a byte; a body without a length (chunked) is counted as it streams in and the
  request is aborted with the same 413 as soon as it goes over;
- headers: more than 32 KiB of request headers in total (or room for two tokens of
  ``JWT_MAX_TOKEN_BYTES`` plus 16 KiB, if that is more) is refused with 431
  ``HEADERS_TOO_LARGE``. The HTTP server should refuse them first, but uvicorn's default
  httptools parser has no limit and h11's only bounds a head that arrives incomplete, so the
  app enforces one itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from starlette.types import Message, Scope

from app.config import Settings
from app.utils.exceptions import PROBLEM_MEDIA_TYPE, problem_body

API_CSP: Final = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "object-src 'none'",
    )
)
DOCS_PATHS: Final = ("/docs", "/redoc")
HSTS: Final = "max-age=63072000; includeSubDomains"
MIN_MAX_HEADER_BYTES: Final = 32 * 1024

_BASE_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def _is_docs_path(path: str) -> bool:
    # One C-level test for every other path (each request asks).
    if not path.startswith(DOCS_PATHS):
        return False
    return any(path == prefix or path.startswith(prefix + "/") for prefix in DOCS_PATHS)


def security_headers(scope: Scope, *, docs_enabled: bool = True) -> tuple[Header, ...]:
    """The headers this request's response gets (one of four fixed sets)."""
    docs = docs_enabled and _is_docs_path(str(scope.get("path", "")))
    return _HEADER_SETS[docs, scope.get("scheme") == "https"]


Header = tuple[bytes, bytes]


def _header_set(docs: bool, https: bool) -> tuple[Header, ...]:
    csp = DOCS_CSP if docs else API_CSP
    hsts = ((b"strict-transport-security", HSTS.encode()),) if https else ()
    return (*_BASE_HEADERS, (b"content-security-policy", csp.encode()), *hsts)


_HEADER_SETS: Final = {
    (docs, https): _header_set(docs, https) for docs in (False, True) for https in (False, True)
}


def max_header_bytes(settings: Settings) -> int:
    """Room for a bearer JWT and a cookie of the largest accepted size, and the rest."""
    return max(MIN_MAX_HEADER_BYTES, 2 * settings.jwt_max_token_bytes + 16 * 1024)


@dataclass(frozen=True)
class RequestLimits:
    """The size limits a request head must meet before the app sees it."""

    max_body_bytes: int
    max_header_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(settings.max_request_body_bytes, max_header_bytes(settings))

    def check_head(self, scope: Scope) -> tuple[Refusal | None, bool]:
        """A refusal when the head alone is over a limit, and whether a body may follow (a
        ``Content-Length`` or ``Transfer-Encoding``): one pass over the headers."""
        size = 0
        declared: int | None = None
        body = False
        for name, value in scope.get("headers", ()):
            # Name, value, ": " and CRLF: the size the head had on the wire.
            size += len(name) + len(value) + 4
            if name == b"content-length":
                body = True
                text = value.decode("latin-1").strip()
                declared = int(text) if text.isdigit() else None
            elif name == b"transfer-encoding":
                body = True
        if size > self.max_header_bytes:
            return Refusal(431, "HEADERS_TOO_LARGE", "request headers too large"), body
        if declared is not None and declared > self.max_body_bytes:
            return self.body_refusal(), body
        return None, body

    def body_refusal(self) -> Refusal:
        detail = f"request body larger than {self.max_body_bytes} bytes"
        return Refusal(413, "PAYLOAD_TOO_LARGE", detail)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    detail: str

    def messages(self, scope: Scope) -> tuple[Message, Message]:
        """The problem+json answer; the connection closes (the body may still be arriving)."""
        body = problem_body(
            status=self.status, code=self.code, detail=self.detail, instance=str(scope["path"])
        )
        payload = json.dumps(body).encode()
        start: Message = {
            "type": "http.response.start",
            "status": self.status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
        return start, {"type": "http.response.body", "body": payload}


class BodyTooLarge(Exception):
    """Raised from ``receive`` to stop an app that is reading a body over the limit."""
