"""The audit log: written inside the admin action's own transaction, read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.audit_event import AuditEvent


@dataclass(frozen=True)
class AuditContext:
    """Who acts, from where: attached to every event the action writes."""

    actor_id: str
    request_id: str | None = None
    ip_address: str | None = None
    # The admin impersonating the actor, when the action runs in an impersonation session.
    impersonated_by: str | None = None


@dataclass(frozen=True)
class AuditQuery:
    actor_id: str | None = None
    target_id: str | None = None
    action: str | None = None
    limit: int = 20
    offset: int = 0


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    def record(
        self,
        context: AuditContext,
        action: str,
        target_id: str | None,
        detail: dict[str, Any],
    ) -> AuditEvent:
        """Add an event to the current transaction; the caller's commit makes it durable."""
        event = AuditEvent(
            actor_id=context.actor_id,
            action=action,
            target_id=target_id,
            detail=(
                detail
                if context.impersonated_by is None
                else {**detail, "impersonatedBy": context.impersonated_by}
            ),
            request_id=context.request_id,
            ip_address=context.ip_address,
        )
        self._db.add(event)
        return event

    async def list_events(self, query: AuditQuery) -> tuple[list[AuditEvent], int]:
        conditions = []
        if query.actor_id is not None:
            conditions.append(AuditEvent.actor_id == query.actor_id)
        if query.target_id is not None:
            conditions.append(AuditEvent.target_id == query.target_id)
        if query.action is not None:
            conditions.append(AuditEvent.action == query.action)
        page = (
            select(AuditEvent)
            .where(*conditions)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        events = list((await self._db.scalars(page)).all())
        total = await self._db.scalar(
            select(func.count()).select_from(AuditEvent).where(*conditions)
        )
        return events, int(total or 0)
