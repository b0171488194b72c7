"""Async engine, session factory and the URL translation users expect.

People paste whatever their provider shows them: ``postgres://``, ``postgresql://``, Neon URLs
with libpq-only query arguments (``sslmode``, ``channel_binding``) that asyncpg rejects. We
translate those into asyncpg's connect arguments instead of failing. Without a configured URL the
service runs on an embedded SQLite file, stored the way Better-Auth stores it there.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from app.config import Settings
from app.pool import GatedPool
from app.utils.fifo_gate import FifoGate

T = TypeVar("T")
logger = logging.getLogger(__name__)

_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# libpq arguments asyncpg has no use for; dropping them is safe. channel_binding=require asks
# libpq to insist on SCRAM-PLUS; asyncpg negotiates SCRAM itself and has no such switch.
_DROPPED_LIBPQ_ARGS = {"channel_binding", "gssencmode", "target_session_attrs", "sslrootcert"}


class DatabaseUrlError(ValueError):
    """The configured ``DATABASE_URL`` cannot be used."""


# Engine option: may a single read skip BEGIN/COMMIT? Not behind a transaction-mode pooler
# (DATABASE_STATEMENT_CACHE=false): asyncpg prepares and executes in two round trips, which
# PgBouncer (< 1.21) may send to two server connections outside a transaction.
AUTOCOMMIT_READS = "autocommit_reads"


@dataclass(frozen=True)
class DatabaseTarget:
    """What ``create_async_engine`` needs, derived from ``DATABASE_URL``."""

    url: URL
    connect_args: dict[str, Any] = field(default_factory=dict)
    autocommit_reads: bool = False

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"


def _postgres_target(url: URL, statement_cache: bool) -> DatabaseTarget:
    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    sslmode = query.pop("sslmode", None) or query.pop("ssl", None)
    if isinstance(sslmode, tuple):
        sslmode = sslmode[-1]
    if sslmode is not None:
        if sslmode not in _SSL_MODES and sslmode not in {"true", "false"}:
            raise DatabaseUrlError(
                f"DATABASE_URL: unsupported sslmode {sslmode!r}; use one of {sorted(_SSL_MODES)}"
            )
        mode = {"true": "require", "false": "disable"}.get(sslmode, sslmode)
        connect_args["ssl"] = mode
    for name in _DROPPED_LIBPQ_ARGS:
        query.pop(name, None)
    if "connect_timeout" in query:
        raw_timeout = str(query.pop("connect_timeout"))
        try:
            connect_args["timeout"] = float(raw_timeout)
        except ValueError:
            raise DatabaseUrlError(
                f"DATABASE_URL: connect_timeout must be a number of seconds, not {raw_timeout!r}"
            ) from None
    if "application_name" in query:
        connect_args.setdefault("server_settings", {})["application_name"] = str(
            query.pop("application_name")
        )
    if "options" in query:
        raise DatabaseUrlError("DATABASE_URL: the libpq 'options' argument is not supported")
    if not statement_cache:
        # PgBouncer in transaction mode (Neon's "-pooler" endpoints) cannot keep prepared
        # statements per client: disable asyncpg's cache and give every statement a unique name.
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4()}__"
        query["prepared_statement_cache_size"] = "0"
    url = url.set(drivername="postgresql+asyncpg", query=query)
    return DatabaseTarget(url=url, connect_args=connect_args, autocommit_reads=statement_cache)


def resolve_database_target(raw_url: str, *, statement_cache: bool = True) -> DatabaseTarget:
    """Turn a pasted ``DATABASE_URL`` into an async SQLAlchemy URL and connect arguments."""
    text = raw_url.strip()
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        url = make_url(text)
    except Exception as error:  # SQLAlchemy raises ArgumentError with the URL inside
        raise DatabaseUrlError("DATABASE_URL: not a valid database URL") from error
    backend = url.get_backend_name()
    if backend == "postgresql":
        return _postgres_target(url, statement_cache)
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return DatabaseTarget(url=url.set(drivername="sqlite+aiosqlite"))
    raise DatabaseUrlError(f"DATABASE_URL: unsupported database {backend!r}")


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Better-Auth declares ON DELETE CASCADE; SQLite ignores it unless asked per connection.
    # isolation_level=None hands transaction control to SQLAlchemy ("begin" hook below), the
    # documented recipe that makes SAVEPOINT work on pysqlite/aiosqlite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def create_engine(settings: Settings, target: DatabaseTarget | None = None) -> AsyncEngine:
    target = target or resolve_database_target(
        settings.database_url, statement_cache=settings.database_statement_cache
    )
    options: dict[str, Any] = {
        "echo": settings.database_echo,
        "connect_args": target.connect_args,
        # No ping on every checkout (three round trips on asyncpg): see _ping_if_idle.
        "pool_pre_ping": False,
        # Statement parameters hold session tokens: keep them out of errors and echo logs.
        "hide_parameters": True,
    }
    if not target.is_sqlite:
        capacity = settings.database_pool_size + settings.database_max_overflow
        options |= {
            "poolclass": GatedPool,
            # Overload queues in arrival order in front of the pool (app.pool), not in it.
            "gate": FifoGate(capacity, timeout=settings.database_queue_timeout_seconds),
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
            "pool_timeout": settings.database_pool_timeout_seconds,
            "execution_options": {AUTOCOMMIT_READS: target.autocommit_reads},
        }
    engine = create_async_engine(target.url, **options)
    if target.is_sqlite:
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    else:
        event.listen(engine.sync_engine, "checkin", _stamp_idle)
        event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        event.listen(engine.sync_engine, "handle_error", _mark_disconnects)
    return engine


# Connection exceptions (08...), a backend terminated by an administrator, a server shutting
# down or starting up (57P01-57P03).
_DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _mark_disconnects(context: ExceptionContext) -> None:
    """asyncpg reports a killed backend or a restarting server as a plain database error;
    SQLAlchemy must treat it as a disconnect, so that the pool drops that connection and every
    older one instead of handing them out again."""
    sqlstate = getattr(context.original_exception, "sqlstate", None)
    if sqlstate is not None and str(sqlstate).startswith(_DISCONNECT_SQLSTATES):
        context.is_disconnect = True


# A connection idle this long may have been closed by the server, a proxy or a pooler's idle
# timeout: it is pinged before use. A busy pool's connections are not (a ping is three round
# trips on asyncpg); one that died while busy (a server restart) fails its first statement,
# the pool drops every connection older than that failure, and reads retry once (run_read).
PING_AFTER_IDLE_SECONDS = 5.0


def _stamp_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        # The pool's documented signal: discard this connection and check out another.
        raise DisconnectionError("idle connection failed its ping") from error


async def run_read(db: AsyncSession, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """A read-only unit of work on ``db``, in as few round trips as possible, retried once on
    a connection that turns out dead.

    On PostgreSQL a session that has not begun yet reads in autocommit: a single statement
    needs no BEGIN and COMMIT around it. Inside a transaction (a write that reads, a test's
    rolled-back transaction), on SQLite, or behind a transaction-mode pooler
    (``AUTOCOMMIT_READS``), ``read`` runs in the session's transaction.
    """
    for attempt in (1, 2):
        # Bound to an engine (not to a connection someone else began) and not yet begun.
        bind = db.get_bind()
        fresh = isinstance(bind, Engine) and not db.in_transaction()
        if fresh and bind.get_execution_options().get(AUTOCOMMIT_READS):
            await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            return await read(db)
        except DBAPIError as error:
            if attempt == 2 or not fresh or not error.connection_invalidated:
                raise
            await db.rollback()  # the pool already dropped the dead connection; take another
    raise AssertionError("unreachable")


ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for reads outside any ORM session, in autocommit on PostgreSQL (a
    single statement needs no BEGIN and COMMIT): the cheapest way to one round trip. Behind a
    transaction-mode pooler the read runs in a transaction (``AUTOCOMMIT_READS``)."""
    async with engine.connect() as connection:
        if engine.get_execution_options().get(AUTOCOMMIT_READS):
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


async def run_connection_read(
    connections: ConnectionFactory, read: Callable[[AsyncConnection], Awaitable[T]]
) -> T:
    """``read`` on a connection of ``connections``, retried once on a connection that turns
    out dead (the pool has dropped it by then; the retry checks out another)."""
    for attempt in (1, 2):
        async with connections() as connection:
            try:
                return await read(connection)
            except DBAPIError as error:
                if attempt == 2 or not error.connection_invalidated:
                    raise
    raise AssertionError("unreachable")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class DbSessionProvider:
    """The request's database session, opened on first use.

    An authenticated request answered from the caches never touches the database, so it should
    not pay for opening and closing a session either. Services commit their own work; whatever
    is left open is rolled back when the request ends.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None

    def __call__(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessionmaker()
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            await session.close()
        except (DBAPIError, OSError) as error:
            # The connection died after the answer was sent: there is nothing left to roll
            # back, and the pool discards the connection. Not an unhandled error.
            logger.warning("database connection lost while closing a session: %s", error)
