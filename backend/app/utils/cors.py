"""Starlette's CORS middleware, with a refused preflight answered as problem+json.

Starlette answers a preflight it refuses with a plain-text 400 (``Disallowed CORS origin``); a
frontend's one error handler (``{code, message, status}``) cannot read that. The decision itself
is Starlette's, unchanged; only the refusal's body differs. The browser still fails the request
(no ``Access-Control-Allow-Origin``), but a developer who looks at the preflight in the network
panel, or a non-browser client, reads which part was refused.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from app.utils.exceptions import problem_response

CORS_REJECTED = "CORS_REJECTED"
_SKIPPED_HEADERS = frozenset({"content-type", "content-length"})


class ProblemCORSMiddleware(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code >= 400:
                    # "Disallowed CORS origin, method": the parts that were refused.
                    refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
                    kept = {
                        name: value
                        for name, value in response.headers.items()
                        if name not in _SKIPPED_HEADERS
                    }
                    response = problem_response(
                        str(scope["path"]),
                        status=response.status_code,
                        code=CORS_REJECTED,
                        detail=f"CORS preflight refused: {refused} not allowed",
                        headers=kept,
                    )
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
