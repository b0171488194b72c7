"""Hostile request heads sent over a real socket to the real app served by uvicorn.

``httpx.ASGITransport`` hands the app any bytes; a real HTTP server parses the head first. With
both of uvicorn's parsers (httptools, the default with ``uvicorn[standard]``, and h11) the
answer must be a 4xx, never a 500 and never a dropped connection: what the parser refuses is a
400, what it lets through is refused by the app (401, or 431 for oversized heads, since
httptools sets no limit of its own).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from tests.support.jwks_server import JwksServer

START_TIMEOUT_SECONDS = 15.0
SOCKET_TIMEOUT_SECONDS = 10.0
BACKEND_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningServer:
    port: int
    parser: str


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(
    request: pytest.FixtureRequest,
    settings: Settings,
    engine: AsyncEngine,  # migrated before the app's own engine connects
    jwks_server: JwksServer,
) -> Iterator[RunningServer]:
    overrides = {
        "database_url": settings.database_url,
        "jwks_url": jwks_server.url,
        "rate_limit_enabled": False,
        "log_format": "json",
    }
    # Its own process (tests/support/served_app.py says why not a thread).
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.served_app", request.param],
        cwd=BACKEND_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(overrides))
        process.stdin.close()
        port = int(process.stdout.readline() or 0)
        if not port:
            raise RuntimeError("the app's server did not start")
        wait_until_serving(port, process)
        yield RunningServer(port=port, parser=request.param)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(port: int, process: subprocess.Popen[str]) -> None:
    """Until /health/live answers: the port is bound before the app's lifespan has run."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app's server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            status, _ = exchange(
                port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            if status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("the app's server did not answer /health/live")


def exchange(port: int, head: bytes) -> tuple[int, bytes]:
    """Send a raw request head; the status and head of the answer (0 if none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_SECONDS) as sock:
        # The server may answer and close before reading a huge head to the end.
        with contextlib.suppress(OSError):
            sock.sendall(head)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    status_line = received.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, received.partition(b"\r\n\r\n")[0]


def request_head(*fields: bytes) -> bytes:
    return (
        b"GET /api/v1/auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + b"".join(field + b"\r\n" for field in fields)
        + b"\r\n"
    )


@dataclass(frozen=True)
class HeadCase:
    name: str
    fields: tuple[bytes, ...]
    allowed: frozenset[int]


CASES = [
    HeadCase(
        "authorization-1-MB", (b"Authorization: Bearer " + b"A" * 1_000_000,), frozenset({400, 431})
    ),
    HeadCase(
        "cookie-1-MB",
        (b"Cookie: better-auth.session_token=" + b"A" * 1_000_000,),
        frozenset({400, 431}),
    ),
    HeadCase("authorization-30-KB", (b"Authorization: Bearer " + b"A" * 30_000,), frozenset({401})),
    HeadCase(
        "5000-small-headers",
        tuple(f"X-H{i}: vvvvvvvv".encode() for i in range(5000)),
        frozenset({400, 431}),
    ),
    HeadCase("nul-in-authorization", (b"Authorization: Bearer ab\x00cd",), frozenset({400})),
    HeadCase("bare-cr-in-authorization", (b"Authorization: Bearer ab\rcd",), frozenset({400})),
    # Obsolete line folding: h11 unfolds it into one value (then refused by the app).
    HeadCase(
        "obs-fold-in-authorization", (b"Authorization: Bearer ab", b" cd"), frozenset({400, 401})
    ),
    HeadCase(
        "non-latin-1-bytes",
        (b"Authorization: Bearer \xff\xfe" + "ключ".encode(),),
        frozenset({401}),
    ),
    HeadCase(
        "repeated-authorization",
        (b"Authorization: Bearer first", b"Authorization: Bearer second"),
        frozenset({401}),
    ),
    HeadCase("garbage-cookie", (b"Cookie: better-auth.session_token=%%%; ;;=",), frozenset({401})),
    HeadCase("space-before-colon", (b"Authorization : Bearer x",), frozenset({400, 401})),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_head_gets_a_4xx(server: RunningServer, case: HeadCase) -> None:
    status, head = exchange(server.port, request_head(*case.fields))
    assert status in case.allowed, (server.parser, status, head[:300])
    if status in {401, 431}:  # answered by the app, not the parser
        assert b"content-type: application/problem+json" in head.lower()


def test_a_normal_request_still_works(server: RunningServer) -> None:
    status, _ = exchange(server.port, request_head())
    assert status == 401
    live, _ = exchange(
        server.port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert live == 200
