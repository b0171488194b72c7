"""Structured logging: JSON lines by default, readable console output for development.

structlog renders both its own events and records from the standard ``logging`` module (ours,
uvicorn's, SQLAlchemy's) through one formatter, so every line has the same shape and carries
the request id.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.types import EventDict, Processor

from app.utils.request_context import current_request_id

_HANDLER_NAME = "app-structured"


def _add_request_id(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    request_id = current_request_id()
    if request_id is not None and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _add_request_id,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        # plain tracebacks: rich's default prints every frame's locals (and froze the loop).
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        # filter_by_level first: a line below the level costs nothing further.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler: test harnesses (pytest's caplog) attach theirs to root too.
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    root.addHandler(handler)
    root.setLevel(level)
    # Drivers log statements with their parameters (session tokens) at DEBUG/INFO: keep them
    # at WARNING whatever LOG_LEVEL says (DATABASE_ECHO is the deliberate way to see SQL, and
    # the engine hides parameters).
    for name in ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's access log would duplicate our request line (and print full query strings).
    logging.getLogger("uvicorn.access").handlers = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def _orjson_dumps(value: Any, **_kwargs: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _identity(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
