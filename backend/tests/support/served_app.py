"""The real app served by uvicorn in a process of its own, for tests that talk to it over a socket.

python -m tests.support.served_app PARSER   (settings as JSON on stdin: ``make_settings`` overrides)

It binds 127.0.0.1 on a free port, prints that port on one line, then serves until SIGTERM.
A process, not a thread of the test run: the app's SQLAlchemy greenlets then live and die in
their own interpreter. A uvicorn thread left greenlets behind whose clean-up, later, in the
test run's main thread, once spun forever (specs/003-fastapi-better-auth/research.md, R20b).
"""

from __future__ import annotations

import json
import socket
import sys

import uvicorn

from app.main import create_app
from tests.conftest import make_settings


def main() -> None:
    parser = sys.argv[1]
    overrides = json.load(sys.stdin)
    settings = make_settings(overrides.pop("database_url"), **overrides)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings),
        http=parser,  # type: ignore[arg-type]
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    # Printed once the port is ours; the test then waits for /health/live (the lifespan runs first).
    sys.stdout.write(f"{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    server.run(sockets=[listener])


if __name__ == "__main__":
    main()
