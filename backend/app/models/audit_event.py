"""``audit_event``: our own append-only log of admin actions (not a Better-Auth table).

No foreign keys on purpose: removing a user must keep the record of who removed whom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base
from app.models.columns import created_at_column, id_column

JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("audit_event_createdAt_idx", "createdAt"),
        Index("audit_event_actorId_idx", "actorId"),
        Index("audit_event_targetId_idx", "targetId"),
        Index("audit_event_action_idx", "action"),
    )

    id: Mapped[str] = id_column()
    created_at: Mapped[datetime] = created_at_column()
    actor_id: Mapped[str] = mapped_column("actorId", Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    target_id: Mapped[str | None] = mapped_column("targetId", Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column("requestId", Text)
    ip_address: Mapped[str | None] = mapped_column("ipAddress", Text)

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!r}, action={self.action!r})"
