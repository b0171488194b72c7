"""``/api/v1/audit-events``: the admin actions log (read-only through the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.routers.deps import AdminUser, AuditServiceDep
from app.routers.responses import problem_responses
from app.schemas.audit import AuditEventPage, AuditEventRead
from app.schemas.base import InputText
from app.services.audit.service import AuditQuery

router = APIRouter(
    prefix="/audit-events", tags=["audit"], responses=problem_responses(401, 403, 422, 429, 503)
)


@router.get("", summary="Admin actions, newest first (admin)", response_model=AuditEventPage)
async def list_audit_events(
    _admin: AdminUser,
    audit: AuditServiceDep,
    actor_id: Annotated[InputText | None, Query(alias="actorId", max_length=255)] = None,
    target_id: Annotated[InputText | None, Query(alias="targetId", max_length=255)] = None,
    action: Annotated[InputText | None, Query(max_length=64, examples=["user.ban"])] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditEventPage:
    query = AuditQuery(
        actor_id=actor_id, target_id=target_id, action=action, limit=limit, offset=offset
    )
    events, total = await audit.list_events(query)
    return AuditEventPage(
        events=[AuditEventRead.model_validate(event) for event in events],
        total=total,
        limit=limit,
        offset=offset,
    )
