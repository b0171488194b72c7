"""Columns that Better-Auth's tables declare alike, declared once: the id, ``createdAt`` (and
``updatedAt`` in ``TimestampMixin``), the cascading references, and the rows a row owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Text, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.models.base import generate_id, utc_now
from app.models.types import UtcDateTime


def id_column() -> Mapped[str]:
    """The primary key: a Better-Auth style random id, made by us when we insert."""
    return mapped_column(Text, primary_key=True, default=generate_id)


def created_at_column(*, server_default: bool = False) -> Mapped[datetime]:
    """``createdAt``: set by us on insert; a database default only where Better-Auth's DDL has
    one (the core tables, ``invitation``)."""
    return mapped_column(
        "createdAt",
        UtcDateTime,
        nullable=False,
        default=utc_now,
        server_default=text("CURRENT_TIMESTAMP") if server_default else None,
    )


def cascade_fk(name: str, target: str, *, index: bool = True) -> Mapped[str]:
    """A required reference to ``target`` (``"table.id"``) that goes with its row, as every
    reference in Better-Auth's DDL does (``ON DELETE CASCADE``)."""
    return mapped_column(
        name, Text, ForeignKey(target, ondelete="CASCADE"), nullable=False, index=index
    )


def user_id_fk(name: str = "userId", *, index: bool = True) -> Mapped[str]:
    return cascade_fk(name, "user.id", index=index)


def organization_id_fk() -> Mapped[str]:
    return cascade_fk("organizationId", "organization.id")


def owned_rows(back_populates: str) -> Any:
    """The rows that reference this one, deleted with it by the database (``passive_deletes``:
    the ``ON DELETE CASCADE`` does it, the ORM does not load them to delete them)."""
    return relationship(back_populates=back_populates, lazy="raise", passive_deletes=True)


class TimestampMixin:
    """``createdAt`` and ``updatedAt`` as Better-Auth declares them on its core tables.

    ``createdAt`` always has a database default. ``updatedAt`` has one only where Better-Auth's
    DDL gives it one (``user``, ``verification``): a class says so with
    ``updated_at_server_default = True``, so that the schema stays identical to Better-Auth's.
    """

    updated_at_server_default: ClassVar[bool] = False

    created_at: Mapped[datetime] = created_at_column(server_default=True)

    @declared_attr
    def updated_at(cls) -> Mapped[datetime]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(
            "updatedAt",
            UtcDateTime,
            nullable=False,
            default=utc_now,
            onupdate=utc_now,
            server_default=text("CURRENT_TIMESTAMP") if cls.updated_at_server_default else None,
        )
