"""The ``apikey`` table of ``@better-auth/api-key`` 1.7.5 (beside better-auth 1.7.25).

``key`` is the hash of the key (``base64url(SHA-256(key))`` without padding, the plugin's
default): never log or return it. ``start`` holds the key's first characters for display.
``referenceId`` is the owner (a user id, or an organization id for organization-owned keys);
``configId`` names the plugin configuration the key belongs to ("default").
``rateLimitTimeWindow`` and ``refillInterval`` are milliseconds; ``permissions`` and ``metadata``
are JSON documents as text.

Not ``TimestampMixin``: the mixin gives ``createdAt`` a CURRENT_TIMESTAMP default, which the core
tables have and the plugins' tables do not (``invitation.createdAt`` on PostgreSQL aside).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utc_now
from app.models.columns import created_at_column, id_column
from app.models.types import IntBoolean, UtcDateTime

DEFAULT_CONFIG_ID = "default"
# The plugin's defaults, filled in by Better-Auth in code (the columns have no defaults).
DEFAULT_RATE_LIMIT_TIME_WINDOW_MS = 86_400_000
DEFAULT_RATE_LIMIT_MAX = 10


class ApiKey(Base):
    __tablename__ = "apikey"

    id: Mapped[str] = id_column()
    config_id: Mapped[str] = mapped_column(
        "configId", Text, nullable=False, index=True, default=DEFAULT_CONFIG_ID
    )
    name: Mapped[str | None] = mapped_column(Text)
    start: Mapped[str | None] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column("referenceId", Text, nullable=False, index=True)
    prefix: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    refill_interval: Mapped[int | None] = mapped_column("refillInterval", Integer)
    refill_amount: Mapped[int | None] = mapped_column("refillAmount", Integer)
    last_refill_at: Mapped[datetime | None] = mapped_column("lastRefillAt", UtcDateTime)
    enabled: Mapped[bool | None] = mapped_column(IntBoolean, default=True)
    rate_limit_enabled: Mapped[bool | None] = mapped_column(
        "rateLimitEnabled", IntBoolean, default=True
    )
    rate_limit_time_window: Mapped[int | None] = mapped_column(
        "rateLimitTimeWindow", Integer, default=DEFAULT_RATE_LIMIT_TIME_WINDOW_MS
    )
    rate_limit_max: Mapped[int | None] = mapped_column(
        "rateLimitMax", Integer, default=DEFAULT_RATE_LIMIT_MAX
    )
    request_count: Mapped[int | None] = mapped_column("requestCount", Integer, default=0)
    remaining: Mapped[int | None] = mapped_column(Integer)
    last_request: Mapped[datetime | None] = mapped_column("lastRequest", UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column("expiresAt", UtcDateTime)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", UtcDateTime, nullable=False, default=utc_now, onupdate=utc_now
    )
    permissions: Mapped[str | None] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)

    def __repr__(self) -> str:
        # Never the key hash.
        return f"ApiKey(id={self.id!r}, reference_id={self.reference_id!r})"
