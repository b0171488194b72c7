"""Operator commands, run beside the API with the same settings (the same ``DATABASE_URL``).

    python -m app.cli grant-admin EMAIL    make the user an admin (the first admin, typically)
    python -m app.cli revoke-admin EMAIL   take the admin role(s) away again

Roles are stored the way Better-Auth's admin plugin stores them: one comma-joined string without
spaces. Better-Auth's ``setRole`` replaces the whole string; granting here stays close to it: a
plain ``user`` (or no role) becomes ``admin``, any other set of roles gets ``admin`` appended
(``editor`` -> ``editor,admin``). The role granted is the first of ``ADMIN_ROLES``; a user who
already holds any of them is left alone. Revoking removes every ``ADMIN_ROLES`` role and falls
back to ``user`` when nothing is left. The API reads roles from the database on every request, so
a change applies at once (JWTs minted before it still carry the old ``role`` claim until they
expire). With secondary storage (``SECONDARY_STORAGE_URL``), Better-Auth's admin plugin reads the
role from the copy of the user kept with each stored session; every run refreshes those copies as
Better-Auth's own ``setRole`` does, changed or not, so that running again after the storage was
unreachable finishes the job.

Every change is written to the audit log in the same transaction, like the API's admin actions:
action ``user.role.set``, ``actorId`` ``cli`` (no signed-in user acts; the operator's account,
``user@host``, is in the detail), the role before and after. A command that changes nothing
writes nothing.

Exit status: 0 done (or nothing to do), 1 no such user, a database error or the session storage
unreachable, 2 bad usage/settings.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings, SettingsError, load_settings
from app.database import DatabaseUrlError, create_engine, create_sessionmaker
from app.models.user import DEFAULT_ROLE, User
from app.services.audit.service import AuditContext, AuditService
from app.services.auth.secondary import SecondarySessions
from app.services.users.roles import has_any_role, join_roles, parse_roles
from app.services.users.sessions import StoredUserSessions
from app.state_sessions import build_secondary_sessions, close_secondary_sessions
from app.utils.errors import ServiceUnavailable

#: ``actorId`` of the audit events the CLI writes: an operator at a shell, not a Better-Auth user.
CLI_ACTOR = "cli"
#: The same action the API records for a role change, so one filter finds both.
ROLE_ACTION = "user.role.set"


class CliError(Exception):
    """A failure reported as one line on stderr, exit status 1."""


def operator() -> str:
    """``user@host`` of the account running the command, for the audit event's detail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric uid without passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class RoleChange:
    """What a command did to one user's role string."""

    email: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def granted_roles(stored: str | None, admin_roles: Sequence[str]) -> str | None:
    """The role string with an admin role added; ``stored`` itself when one is already held."""
    if has_any_role(stored, admin_roles):
        return stored
    roles = parse_roles(stored)
    if not roles or roles == [DEFAULT_ROLE]:
        # What Better-Auth's setRole would store: a plain user simply becomes an admin.
        return admin_roles[0]
    return join_roles([*roles, admin_roles[0]])


def revoked_roles(stored: str | None, admin_roles: Sequence[str]) -> str | None:
    """The role string without any admin role (``user`` if nothing else is left)."""
    if not has_any_role(stored, admin_roles):
        return stored
    remaining = [role for role in parse_roles(stored) if role not in admin_roles]
    return join_roles(remaining) if remaining else DEFAULT_ROLE


async def change_role(
    engine: AsyncEngine,
    email: str,
    rule: Callable[[str | None], str | None],
    command: str,
    secondary: SecondarySessions | None = None,
) -> RoleChange:
    """Apply ``rule`` to the role of the user with this e-mail address; the change and its
    audit event are committed together, then the user's copies in ``secondary`` refreshed."""
    wanted = email.strip().lower()
    async with create_sessionmaker(engine)() as session:
        # Better-Auth stores addresses lower-cased; compare case-insensitively all the same.
        query = select(User).where(func.lower(User.email) == wanted).limit(2)
        users = (await session.scalars(query)).all()
        if not users:
            raise CliError(f"no user with e-mail {email.strip()!r} (sign up first)")
        if len(users) > 1:
            raise CliError(f"several users match {email.strip()!r} (case-insensitively)")
        user = users[0]
        before = user.role
        after = rule(before)
        if after != before:
            user.role = after
            AuditService(session).record(
                AuditContext(actor_id=CLI_ACTOR),
                ROLE_ACTION,
                user.id,
                {
                    "before": {"role": before},
                    "after": {"role": after},
                    "via": f"python -m app.cli {command}",
                    "operator": operator(),
                },
            )
            await session.commit()
        if secondary is not None:
            await StoredUserSessions(session, secondary).user_changed(user)
        return RoleChange(user.email, before, after)


async def grant_admin(
    engine: AsyncEngine, settings: Settings, email: str, secondary: SecondarySessions | None = None
) -> RoleChange:
    rule = partial(granted_roles, admin_roles=settings.admin_roles)
    return await change_role(engine, email, rule, "grant-admin", secondary)


async def revoke_admin(
    engine: AsyncEngine, settings: Settings, email: str, secondary: SecondarySessions | None = None
) -> RoleChange:
    rule = partial(revoked_roles, admin_roles=settings.admin_roles)
    return await change_role(engine, email, rule, "revoke-admin", secondary)


Command = Callable[[AsyncEngine, Settings, str, SecondarySessions | None], Awaitable[RoleChange]]
COMMANDS: dict[str, tuple[Command, str]] = {
    "grant-admin": (grant_admin, "make the user an admin"),
    "revoke-admin": (revoke_admin, "take the admin role(s) away from the user"),
}


def describe(command: str, change: RoleChange) -> str:
    if not change.changed:
        what = "already an admin" if command == "grant-admin" else "not an admin"
        return f"{change.email} is {what} (role {change.before!r}): nothing changed"
    verb = "granted admin to" if command == "grant-admin" else "revoked admin from"
    return f"{verb} {change.email}: role {change.before!r} -> {change.after!r}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli",
        description="Operator commands on the database the API uses (DATABASE_URL, .env).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("email", metavar="EMAIL", help="the user's e-mail address")
    return parser


async def run(command: str, email: str, settings: Settings) -> RoleChange:
    engine = create_engine(settings)
    secondary = build_secondary_sessions(settings)
    try:
        return await COMMANDS[command][0](engine, settings, email, secondary)
    finally:
        await close_secondary_sessions(secondary)
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: str = args.command
    email: str = args.email
    try:
        settings = load_settings()
    except SettingsError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    try:
        change = asyncio.run(run(command, email, settings))
    except CliError as error:
        sys.stderr.write(f"{command}: {error}\n")
        return 1
    except (SQLAlchemyError, DatabaseUrlError, OSError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        sys.stderr.write(
            f"{command}: database error ({first_line}); is DATABASE_URL right and migrated"
            " (`make migrate`)?\n"
        )
        return 1
    except ServiceUnavailable:
        sys.stderr.write(
            f"{command}: the role is saved in the database, but the session storage"
            " (SECONDARY_STORAGE_URL) is unreachable: Better-Auth may still read the old role from"
            " its copies of the user; run the command again once the storage is back\n"
        )
        return 1
    sys.stdout.write(describe(command, change) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
