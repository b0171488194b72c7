"""Dates the way Better-Auth writes them: JavaScript's ``Date.prototype.toISOString`` format."""

from __future__ import annotations

from datetime import UTC, datetime


def format_iso_utc(value: datetime) -> str:
    """``2026-11-26T17:46:11.446Z``: JavaScript's ``Date.prototype.toISOString`` format."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    # Not strftime: glibc's %Y does not pad years before 1000 ("1-01-01"), which would break
    # the text ordering SQLite compares these with; JavaScript writes "0001-01-01".
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse_iso_utc(value: str | int | float) -> datetime:
    """Parse what Better-Auth (or a hand-written row) stores in a SQLite date column."""
    if isinstance(value, int | float):
        # Epoch milliseconds: what a JS Date becomes when bound without conversion.
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
