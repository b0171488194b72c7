"""One verification's use of a key, as ONE atomic ``UPDATE ... RETURNING``.

The plugin (``claimUsageInDatabase``) spends quota and a rate-limit slot with guarded
compare-and-swap updates; here the same rules are one statement, so concurrent requests on any
number of replicas cannot take ``remaining`` below zero nor ``requestCount`` past the max:

- refill: when ``refillInterval`` and ``refillAmount`` are set and more than ``refillInterval``
  ms have passed since ``lastRefillAt`` (or ``createdAt``), ``remaining = refillAmount - 1`` and
  ``lastRefillAt = now``; otherwise ``remaining - 1``, only while ``remaining > 0``;
- rate limit (``rateLimitEnabled`` not false, window and max set): a request more than the window
  after ``lastRequest`` (or the first) starts a new window with ``requestCount = 1``; otherwise
  it counts only while ``requestCount < rateLimitMax``; ``lastRequest = now`` either way.
  With ``rateLimitEnabled = false`` only ``lastRequest`` moves; with no window/max nothing.
  The plugin's ``rateLimit.enabled: false`` (``API_KEY_RATE_LIMIT_ENABLED``) treats every key
  as ``rateLimitEnabled = false`` (``evaluateRateLimit``'s first check).
- the row must still be enabled and unexpired, so a key disabled in Better-Auth is refused on
  the very next request whatever a cache holds.

The window arithmetic runs in SQL (the row's own ``rateLimitTimeWindow``/``refillInterval``),
``now`` is the API's clock, as the plugin uses its process clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, not_, or_, true, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.expression import FunctionElement

from app.models.apikey import ApiKey
from app.models.types import UtcDateTime


class minus_millis(FunctionElement[datetime]):  # noqa: N801 (SQL function style)
    """``timestamp - milliseconds`` on either dialect."""

    type = UtcDateTime()
    inherit_cache = True
    name = "minus_millis"


def _operands(element: minus_millis, compiler: Any, **kw: Any) -> tuple[str, str]:
    """The compiled SQL of ``(timestamp, milliseconds)``."""
    when, millis = list(element.clauses)
    return compiler.process(when, **kw), compiler.process(millis, **kw)


@compiles(minus_millis, "postgresql")
def _minus_millis_postgresql(element: minus_millis, compiler: Any, **kw: Any) -> str:
    when, millis = _operands(element, compiler, **kw)
    return f"({when} - make_interval(secs => {millis} / 1000.0))"


@compiles(minus_millis, "sqlite")
def _minus_millis_sqlite(element: minus_millis, compiler: Any, **kw: Any) -> str:
    # Better-Auth's SQLite dates are ISO-8601 text with milliseconds and "Z", which compare
    # correctly as text; strftime yields the same shape.
    when, millis = _operands(element, compiler, **kw)
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {when}, '-' || ({millis} / 1000.0) || ' seconds')"


def refill_due(now: ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(
        ApiKey.refill_interval.is_not(None),
        ApiKey.refill_interval != 0,
        ApiKey.refill_amount.is_not(None),
        ApiKey.refill_amount != 0,
        func.coalesce(ApiKey.last_refill_at, ApiKey.created_at)
        < minus_millis(now, ApiKey.refill_interval),
    )


def claim_usage(
    key_id: str, now_value: datetime, *, rate_limit_enabled: bool = True
) -> ReturningUpdate[ApiKey]:
    """The UPDATE; it returns the whole row after the change, or nothing when refused.
    ``rate_limit_enabled``: the plugin's ``rateLimit.enabled`` (false: no key is limited)."""
    now = literal(now_value, UtcDateTime())
    due = refill_due(now)
    rl_off = ApiKey.rate_limit_enabled.is_(false()) if rate_limit_enabled else true()
    rl_unconfigured = or_(ApiKey.rate_limit_time_window.is_(None), ApiKey.rate_limit_max.is_(None))
    rl_applies = and_(not_(rl_off), not_(rl_unconfigured))
    rl_fresh = or_(
        ApiKey.last_request.is_(None),
        ApiKey.last_request < minus_millis(now, ApiKey.rate_limit_time_window),
    )
    count = func.coalesce(ApiKey.request_count, 0)
    return (
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            ApiKey.enabled.is_not(false()),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at >= now),
            or_(ApiKey.remaining.is_(None), due, ApiKey.remaining > 0),
            or_(not_(rl_applies), rl_fresh, count < ApiKey.rate_limit_max),
        )
        .values(
            {
                ApiKey.remaining: case(
                    (ApiKey.remaining.is_(None), None),
                    (due, ApiKey.refill_amount - 1),
                    else_=ApiKey.remaining - 1,
                ),
                ApiKey.last_refill_at: case(
                    (and_(ApiKey.remaining.is_not(None), due), now), else_=ApiKey.last_refill_at
                ),
                ApiKey.request_count: case(
                    (not_(rl_applies), ApiKey.request_count), (rl_fresh, 1), else_=count + 1
                ),
                ApiKey.last_request: case(
                    (rl_off, now),
                    (rl_unconfigured, ApiKey.last_request),
                    else_=now,
                ),
                ApiKey.updated_at: now,
            }
        )
        .returning(ApiKey)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
