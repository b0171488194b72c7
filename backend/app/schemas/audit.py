"""The audit log as the API shows it."""

from __future__ import annotations

from typing import Any

from app.schemas.base import CamelModel, IsoDateTime, examples


class AuditEventRead(CamelModel):
    model_config = examples(
        {
            "id": "Q2w3E4r5T6y7U8i9O0p1A2s3D4f5G6h7",
            "createdAt": "2026-11-26T17:50:00.000Z",
            "actorId": "7OIM7IlAIeKRiVaQCSsLFqMUuy1wgJjs",
            "action": "user.role.set",
            "targetId": "oHaLMaGYJnll8VpHgAfvMGFAbNn1eGCb",
            "detail": {"before": {"role": "user"}, "after": {"role": "admin"}},
            "requestId": "4f1c2a7e9b0d4c3e8a1f2b3c4d5e6f70",
            "ipAddress": "203.0.113.7",
        }
    )

    id: str
    created_at: IsoDateTime
    actor_id: str
    action: str
    target_id: str | None
    detail: dict[str, Any]
    request_id: str | None
    ip_address: str | None


class AuditEventPage(CamelModel):
    events: list[AuditEventRead]
    total: int
    limit: int
    offset: int
