"""``python -m app.cli grant-admin|revoke-admin EMAIL`` against the run's real database.

The commands commit, so these tests work on committed rows of their own (unique e-mails) and
delete them afterwards instead of using the rolled-back ``db_session``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app import cli
from app.config import Settings
from app.database import create_sessionmaker
from app.models import AuditEvent, User, generate_id
from app.services.audit.service import AuditQuery, AuditService
from app.services.auth.secondary import SecondarySessions
from app.state_sessions import build_secondary_sessions, close_secondary_sessions
from tests.support.database import BACKEND_DIR
from tests.support.stored_sessions import REDIS_URL, BetterAuthStorage, open_storage

UserFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_user(engine: AsyncEngine) -> AsyncIterator[UserFactory]:
    """Committed users with unique e-mails; deleted at teardown."""
    created: list[str] = []

    async def factory(role: str | None = "user") -> str:
        email = f"cli-{generate_id().lower()}@example.com"
        async with create_sessionmaker(engine)() as session:
            # Core insert: an explicit NULL role stays NULL (the ORM would apply the default).
            await session.execute(
                insert(User).values(name="CLI", email=email, email_verified=False, role=role)
            )
            await session.commit()
        created.append(email)
        return email

    yield factory
    async with create_sessionmaker(engine)() as session:
        ids = select(User.id).where(User.email.in_(created))
        # The commands' audit rows are committed too (audit rows outlive users: no foreign key).
        await session.execute(delete(AuditEvent).where(AuditEvent.target_id.in_(ids)))
        await session.execute(delete(User).where(User.email.in_(created)))
        await session.commit()


async def audit_of(engine: AsyncEngine, email: str) -> list[AuditEvent]:
    user_id = await id_of(engine, email)
    async with create_sessionmaker(engine)() as session:
        query = (
            select(AuditEvent)
            .where(AuditEvent.target_id == user_id)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
        return list((await session.scalars(query)).all())


async def role_of(engine: AsyncEngine, email: str) -> str | None:
    async with create_sessionmaker(engine)() as session:
        return await session.scalar(select(User.role).where(User.email == email))


async def id_of(engine: AsyncEngine, email: str) -> str:
    async with create_sessionmaker(engine)() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id


@asynccontextmanager
async def secondary_on(
    storage: BetterAuthStorage, settings: Settings
) -> AsyncIterator[SecondarySessions]:
    """The API's client of the secondary storage, on ``storage``'s prefix of the real Redis."""
    update = {"secondary_storage_url": REDIS_URL, "secondary_storage_prefix": storage.prefix}
    secondary = build_secondary_sessions(settings.model_copy(update=update))
    assert secondary is not None
    try:
        yield secondary
    finally:
        await close_secondary_sessions(secondary)


async def copied_roles(storage: BetterAuthStorage, sessions: list[dict[str, Any]]) -> list[str]:
    """The role in the copy of the user kept with each stored session."""
    return [(await storage.get_json(s["token"]))["user"]["role"] for s in sessions]


class TestRoleRules:
    @pytest.mark.parametrize(
        ("stored", "expected"),
        [
            (None, "admin"),
            ("", "admin"),
            ("user", "admin"),  # what Better-Auth's setRole would store
            ("editor", "editor,admin"),
            ("user,editor", "user,editor,admin"),
            ("admin", "admin"),
            ("editor,admin", "editor,admin"),
            ("superadmin", "superadmin"),  # already holds one of ADMIN_ROLES
        ],
    )
    def test_grant(self, stored: str | None, expected: str) -> None:
        assert cli.granted_roles(stored, ["admin", "superadmin"]) == expected

    @pytest.mark.parametrize(
        ("stored", "expected"),
        [
            ("admin", "user"),
            ("editor,admin", "editor"),
            ("admin,superadmin,editor", "editor"),
            ("user", "user"),
            (None, None),  # not an admin: left exactly as it is
        ],
    )
    def test_revoke(self, stored: str | None, expected: str | None) -> None:
        assert cli.revoked_roles(stored, ["admin", "superadmin"]) == expected


class TestCommands:
    async def test_grant_then_revoke(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        email = await make_user("user")
        change = await cli.grant_admin(engine, settings, email.upper())  # case-insensitive
        assert (change.email, change.before, change.after, change.changed) == (
            email,
            "user",
            "admin",
            True,
        )
        assert await role_of(engine, email) == "admin"
        assert "granted admin to" in cli.describe("grant-admin", change)

        again = await cli.grant_admin(engine, settings, email)
        assert not again.changed
        assert "already an admin" in cli.describe("grant-admin", again)

        revoked = await cli.revoke_admin(engine, settings, email)
        assert (revoked.before, revoked.after) == ("admin", "user")
        assert await role_of(engine, email) == "user"
        assert "not an admin" in cli.describe("revoke-admin", await cli.revoke_admin(
            engine, settings, email
        ))  # fmt: skip

    async def test_other_roles_are_kept(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        email = await make_user("editor")
        await cli.grant_admin(engine, settings, email)
        assert await role_of(engine, email) == "editor,admin"
        await cli.revoke_admin(engine, settings, email)
        assert await role_of(engine, email) == "editor"

    async def test_unknown_user(self, engine: AsyncEngine, settings: Settings) -> None:
        with pytest.raises(cli.CliError, match="no user with e-mail"):
            await cli.grant_admin(engine, settings, "nobody-here@example.com")


class TestSessionCopies:
    """With secondary storage, Better-Auth's admin plugin takes the caller's role from the copy of
    the user kept with each stored session: the commands refresh it, as ``setRole`` does."""

    async def test_grant_and_revoke_refresh_every_copy(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        email = await make_user("user")
        user_id = await id_of(engine, email)
        async with open_storage("cli") as storage:
            copy = {"id": user_id, "role": "user", "twoFactorEnabled": True}
            sessions = [await storage.create_session(user_id, user=copy) for _ in range(2)]
            async with secondary_on(storage, settings) as secondary:
                await cli.grant_admin(engine, settings, email, secondary)
                assert await copied_roles(storage, sessions) == ["admin", "admin"]
                record = await storage.get_json(sessions[0]["token"])
                assert record["user"]["email"] == email
                assert record["user"]["twoFactorEnabled"] is True  # columns we do not know stay

                await cli.revoke_admin(engine, settings, email, secondary)
                assert await copied_roles(storage, sessions) == ["user", "user"]

    async def test_a_run_that_changes_nothing_still_refreshes(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        """Running again after the storage was down brings a stale copy in line."""
        email = await make_user("user")
        user_id = await id_of(engine, email)
        async with open_storage("cli") as storage:
            stale = await storage.create_session(user_id, user={"id": user_id, "role": "admin"})
            async with secondary_on(storage, settings) as secondary:
                change = await cli.revoke_admin(engine, settings, email, secondary)
            assert not change.changed
            assert await copied_roles(storage, [stale]) == ["user"]

    async def test_storage_unreachable(
        self,
        settings: Settings,
        engine: AsyncEngine,
        make_user: UserFactory,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        email = await make_user("user")
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("SECONDARY_STORAGE_URL", "redis://127.0.0.1:1/0")  # nothing listens
        monkeypatch.setenv("SECONDARY_STORAGE_TIMEOUT_SECONDS", "0.5")
        assert await asyncio.to_thread(cli.main, ["grant-admin", email]) == 1
        error = capsys.readouterr().err
        assert "the session storage (SECONDARY_STORAGE_URL) is unreachable" in error
        assert "run the command again" in error
        assert await role_of(engine, email) == "admin"  # the database is changed all the same


class TestAudit:
    """What the commands change is in the audit log, like the API's admin actions."""

    async def test_each_change_writes_one_event(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        email = await make_user("editor")
        await cli.grant_admin(engine, settings, email)
        await cli.grant_admin(engine, settings, email)  # nothing to do: nothing written
        await cli.revoke_admin(engine, settings, email)
        await cli.revoke_admin(engine, settings, email)  # nothing to do: nothing written
        events = await audit_of(engine, email)
        assert [(e.actor_id, e.action) for e in events] == [("cli", "user.role.set")] * 2
        grant, revoke = events
        assert grant.detail["before"] == {"role": "editor"}
        assert grant.detail["after"] == {"role": "editor,admin"}
        assert grant.detail["via"] == "python -m app.cli grant-admin"
        assert revoke.detail["before"] == {"role": "editor,admin"}
        assert revoke.detail["after"] == {"role": "editor"}
        assert revoke.detail["via"] == "python -m app.cli revoke-admin"
        assert re.fullmatch(r"[^@\s]+@[^@\s]+", grant.detail["operator"])
        assert grant.request_id is None
        assert grant.ip_address is None

    async def test_listed_by_the_api_like_admin_actions(
        self, engine: AsyncEngine, settings: Settings, make_user: UserFactory
    ) -> None:
        """The event reads back through the audit service the `/audit-events` route uses."""
        email = await make_user("user")
        change = await cli.grant_admin(engine, settings, email)
        (event,) = await audit_of(engine, email)
        async with create_sessionmaker(engine)() as session:
            events, total = await AuditService(session).list_events(
                AuditQuery(actor_id=cli.CLI_ACTOR, target_id=event.target_id)
            )
        assert total == 1
        assert events[0].detail["after"] == {"role": change.after}


class TestMain:
    async def test_main_in_process(
        self,
        settings: Settings,
        engine: AsyncEngine,
        make_user: UserFactory,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        email = await make_user(None)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        # main() runs its own event loop: give it a thread of its own.
        assert await asyncio.to_thread(cli.main, ["grant-admin", email]) == 0
        assert f"granted admin to {email}: role None -> 'admin'" in capsys.readouterr().out
        assert await role_of(engine, email) == "admin"

        assert await asyncio.to_thread(cli.main, ["revoke-admin", "nobody@example.com"]) == 1
        assert "revoke-admin: no user with e-mail" in capsys.readouterr().err

    async def test_bad_settings_and_unreachable_database(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("LOG_FORMAT", "xml")
        assert await asyncio.to_thread(cli.main, ["grant-admin", "a@example.com"]) == 2
        assert "invalid setting LOG_FORMAT" in capsys.readouterr().err
        monkeypatch.delenv("LOG_FORMAT")
        monkeypatch.setenv("DATABASE_URL", "sqlite:///" + os.devnull + "/no/such/dir/x.db")
        assert await asyncio.to_thread(cli.main, ["grant-admin", "a@example.com"]) == 1
        assert "database error" in capsys.readouterr().err

    def test_usage(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["grant-admin"])
        assert exit_info.value.code == 2
        assert "EMAIL" in capsys.readouterr().err

    async def test_python_dash_m(
        self, settings: Settings, engine: AsyncEngine, make_user: UserFactory
    ) -> None:
        """The command `make admin` runs, as a real process on the run's database."""
        email = await make_user("user")
        env = {**os.environ, "DATABASE_URL": settings.database_url}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "grant-admin", email,
            cwd=BACKEND_DIR, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == f"granted admin to {email}: role 'user' -> 'admin'"
        assert await role_of(engine, email) == "admin"
