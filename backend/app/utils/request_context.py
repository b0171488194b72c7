"""The current request's id, readable anywhere (logs, audit rows) without passing it around."""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


# 32 hex characters, like a uuid4's: 80 random bits drawn once per process (each uvicorn worker
# imports this module itself), then a counter. Unique, and one string format per request
# instead of a read from the kernel's random source.
_PROCESS_PREFIX = os.urandom(10).hex()
_COUNTER = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS_PREFIX}{next(_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def accept_request_id(incoming: str | None) -> str:
    """Honour a caller's X-Request-ID when it is a sane token, else mint one.

    Anything else (spaces, control characters, very long values) could forge log lines, so
    it is replaced rather than echoed.
    """
    if incoming and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
