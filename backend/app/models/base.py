"""Declarative base with PostgreSQL's own constraint names.

The naming convention reproduces the names PostgreSQL gives Better-Auth's DDL
(``user_pkey``, ``user_email_key``, ``session_userId_fkey``, ``session_userId_idx``), so the
schema our migrations create is indistinguishable from the one Better-Auth creates.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_name)s_idx",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}

_ID_ALPHABET = string.ascii_letters + string.digits


def generate_id(length: int = 32) -> str:
    """A Better-Auth style id: 32 random characters from ``[A-Za-z0-9]``."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def utc_now() -> datetime:
    """Now, truncated to milliseconds: JavaScript dates carry no finer precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
