"""What Better-Auth keeps in its secondary storage, parsed as Better-Auth parses it.

``<prefix><token>`` holds ``JSON.stringify({session, user})`` (dates as ISO strings);
``<prefix>active-sessions-<userId>`` holds ``[{token, expiresAt}]`` (expiresAt in epoch
milliseconds, sorted by it); ``<prefix>revoked-sessions-before-<userId>`` holds epoch
milliseconds as a string. Anything that does not parse is treated as absent, as Better-Auth's
``safeJSONParse`` does. The ``user`` half of a record is never read: it is a copy made at sign-in
(refreshed only by Better-Auth's own user updates), so role and ban state come from the ``user``
table instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.services.auth.snapshots import SessionSnapshot


def js_time_ms(value: object) -> float:
    """``new Date(value).getTime()`` for what ``JSON.stringify`` makes of a date (an ISO
    string) or an epoch-milliseconds number; ``nan`` for anything else."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return math.nan
        if parsed.tzinfo is None:
            return math.nan  # Better-Auth always writes UTC with "Z"
        return parsed.timestamp() * 1000
    return math.nan


def js_number(value: str | None) -> float:
    """``Number(value)`` of a stored string: 0 for a missing key, ``nan`` for garbage."""
    if value is None:
        return 0.0
    text = value.strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return math.nan


def js_iso(moment: datetime) -> str:
    """``Date.prototype.toISOString`` (what ``JSON.stringify`` makes of a date)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _datetime(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One session record. ``fields`` is the stored ``session`` object itself (for updates,
    which rewrite it as Better-Auth does); ``token`` is a secret and never leaves the app."""

    id: str
    token: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    impersonated_by: str | None
    active_organization_id: str | None
    fields: dict[str, Any] = field(compare=False, repr=False)
    record: dict[str, Any] = field(compare=False, repr=False)

    @property
    def created_ms(self) -> float:
        return self.created_at.timestamp() * 1000

    def snapshot(self) -> SessionSnapshot:
        return SessionSnapshot(
            id=self.id,
            user_id=self.user_id,
            created_at=self.created_at,
            expires_at=self.expires_at,
            impersonated_by=self.impersonated_by,
        )


def parse_json(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def parse_session(raw: str | None, token: str) -> StoredSession | None:
    """The record stored under ``token``; ``None`` when absent or not a session record."""
    record = parse_json(raw)
    if not isinstance(record, dict):
        return None
    fields = record.get("session")
    if not isinstance(fields, dict):
        return None
    session_id, user_id = fields.get("id"), fields.get("userId")
    times = [js_time_ms(fields.get(name)) for name in ("createdAt", "updatedAt", "expiresAt")]
    if not isinstance(session_id, str) or not isinstance(user_id, str) or not session_id:
        return None
    if not all(math.isfinite(ms) for ms in times):
        return None
    created, updated, expires = (_datetime(ms) for ms in times)
    return StoredSession(
        id=session_id,
        token=token,
        user_id=user_id,
        created_at=created,
        updated_at=updated,
        expires_at=expires,
        ip_address=_text(fields.get("ipAddress")),
        user_agent=_text(fields.get("userAgent")),
        impersonated_by=_text(fields.get("impersonatedBy")),
        active_organization_id=_text(fields.get("activeOrganizationId")),
        fields=fields,
        record=record,
    )


def parse_references(raw: str | None) -> list[dict[str, Any]]:
    """The ``active-sessions-<userId>`` list (``safeJSONParse(list) || []``), entries kept as
    stored so that a rewrite keeps whatever else they hold."""
    value = parse_json(raw)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict) and isinstance(item.get("token"), str)]


def reference_expiry(reference: dict[str, Any]) -> float:
    value = reference.get("expiresAt")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def dump_json(value: object) -> str:
    """``JSON.stringify``: no spaces."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
