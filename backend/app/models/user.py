"""Better-Auth's ``user`` table (core fields + the admin plugin's role and ban fields)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import TimestampMixin, id_column, owned_rows
from app.models.types import IntBoolean, UtcDateTime

if TYPE_CHECKING:
    from app.models.account import Account
    from app.models.session import AuthSession

DEFAULT_ROLE = "user"


class User(TimestampMixin, Base):
    updated_at_server_default = True
    __tablename__ = "user"
    # Ours, not Better-Auth's (revision 0002): the admin list sorts and searches on these.
    # The trigram indexes exist on PostgreSQL only (see alembic env.include_object).
    __table_args__ = (
        Index("user_createdAt_id_idx", "createdAt", "id"),
        Index("user_name_id_idx", "name", "id"),
        Index(
            "user_email_trgm_idx",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ),
        Index(
            "user_name_trgm_idx",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
            info={"dialects": ("postgresql",)},
        ),
    )

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    email: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    email_verified: Mapped[bool] = mapped_column(
        "emailVerified", IntBoolean, nullable=False, default=False
    )
    image: Mapped[str | None] = mapped_column(Text)
    # Admin plugin. Nullable in Better-Auth's DDL, but Better-Auth fills role/banned in code.
    role: Mapped[str | None] = mapped_column(Text, default=DEFAULT_ROLE)
    banned: Mapped[bool | None] = mapped_column(IntBoolean, default=False)
    ban_reason: Mapped[str | None] = mapped_column("banReason", Text)
    ban_expires: Mapped[datetime | None] = mapped_column("banExpires", UtcDateTime)

    sessions: Mapped[list[AuthSession]] = owned_rows("user")
    accounts: Mapped[list[Account]] = owned_rows("user")

    def __repr__(self) -> str:
        return f"User(id={self.id!r})"
