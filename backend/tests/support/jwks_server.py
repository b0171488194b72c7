"""A real JWKS HTTP server on 127.0.0.1 for tests, with switchable misbehaviour.

Runs ``http.server.ThreadingHTTPServer`` in a background thread on a free port. The key set,
the ``Cache-Control`` header and the behaviour can be changed while it runs; ``hits`` counts
requests to the JWKS path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal[
    "ok",
    "error",  # HTTP 500
    "invalid_json",
    "not_object",  # valid JSON without a keys list
    "empty",  # {"keys": []}
    "slow",  # sleeps ``slow_seconds`` before answering
    "redirect",  # 302 to /moved, which serves the key set
    "oversized",  # larger than ``oversized_bytes``, with Content-Length
    "oversized_stream",  # same, without Content-Length (close-delimited)
]

JWKS_PATH = "/api/auth/jwks"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a sleeping "slow" handler must not hold up stop()
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) makes the late write fail: expected


class JwksServer:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document: dict[str, Any] = document or {"keys": []}
        self.mode: Mode = "ok"
        self.cache_control: str | None = None
        self.slow_seconds = 2.0
        self.oversized_bytes = 300_000
        self._hits = 0
        self._moved_hits = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle --

    def start(self) -> None:
        self._release.clear()
        self._httpd = _Server(("127.0.0.1", self.port), self._handler_class())
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: clients now get "connection refused"."""
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def go_down(self) -> None:
        self.stop()

    def come_back(self) -> None:
        """Listen again on the same port."""
        self.start()

    def __enter__(self) -> JwksServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JWKS_PATH}"

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    @property
    def moved_hits(self) -> int:
        with self._lock:
            return self._moved_hits

    def reset_hits(self) -> None:
        with self._lock:
            self._hits = 0
            self._moved_hits = 0

    def set_keys(self, keys: list[dict[str, Any]]) -> None:
        self.document = {"keys": keys}

    @contextmanager
    def behaving(self, mode: Mode) -> Iterator[None]:
        previous, self.mode = self.mode, mode
        try:
            yield
        finally:
            self.mode = previous

    # -- request handling --

    def _count(self, path: str) -> None:
        with self._lock:
            if path == JWKS_PATH:
                self._hits += 1
            else:
                self._moved_hits += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in {JWKS_PATH, "/moved"}:
                    self._send(404, b"not found", "text/plain")
                    return
                server._count(path)
                if path == "/moved":
                    self._send_json(server.document)
                    return
                server._respond(self)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if server.cache_control is not None:
                    self.send_header("Cache-Control", server.cache_control)
                self.end_headers()
                self.wfile.write(body)

            def _send_json(self, document: object) -> None:
                self._send(200, json.dumps(document).encode(), "application/json")

        return Handler

    def _respond(self, handler: Any) -> None:
        mode = self.mode
        if mode == "ok":
            handler._send_json(self.document)
        elif mode == "error":
            handler._send(500, b'{"error":"boom"}', "application/json")
        elif mode == "invalid_json":
            handler._send(200, b'{"keys": [', "application/json")
        elif mode == "not_object":
            handler._send_json(["not", "a", "jwks"])
        elif mode == "empty":
            handler._send_json({"keys": []})
        elif mode == "slow":
            self._release.wait(self.slow_seconds)
            handler._send_json(self.document)
        elif mode == "redirect":
            handler.send_response(302)
            handler.send_header("Location", "/moved")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif mode == "oversized":
            handler._send(200, self._oversized_body(), "application/json")
        elif mode == "oversized_stream":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            body = self._oversized_body()
            for start in range(0, len(body), 16384):
                handler.wfile.write(body[start : start + 16384])
            handler.close_connection = True

    def _oversized_body(self) -> bytes:
        padding = "x" * self.oversized_bytes
        return json.dumps({**self.document, "padding": padding}).encode()
