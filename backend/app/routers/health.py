"""Public probes for orchestrators: no authentication, no rate limit."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.routers.deps import HealthDep
from app.schemas.common import CheckResult, LiveStatus, Problem, ReadyStatus
from app.utils.exceptions import problem_response

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="Process is up")
async def live() -> LiveStatus:
    return LiveStatus()


@router.get(
    "/ready",
    summary="Dependencies answer",
    response_model=ReadyStatus,
    responses={503: {"model": Problem, "description": "A dependency is unavailable"}},
)
async def ready(health: HealthDep) -> JSONResponse | ReadyStatus:
    results = {
        "database": await health.check_database(),
        "keys": await health.check_keys(),
        "identityFeed": await health.check_identity_feed(),
    }
    session_storage = await health.check_session_storage()
    if session_storage is not None:  # only when sessions live in Better-Auth's Redis
        results["sessionStorage"] = session_storage
    checks = {
        name: CheckResult.model_validate(result, from_attributes=True)
        for name, result in results.items()
    }
    # Only the database gates readiness: with the auth server down, cached keys keep verifying
    # tokens, and pulling every replica out of rotation would turn a degraded API into none.
    if checks["database"].status == "unavailable":
        return problem_response(
            "/health/ready",
            status=503,
            code="NOT_READY",
            detail="a dependency is unavailable",
            headers={"Retry-After": "5"},
            extra={"checks": {name: check.model_dump() for name, check in checks.items()}},
        )
    overall = "ok" if all(check.status == "ok" for check in checks.values()) else "degraded"
    return ReadyStatus(status=overall, checks=checks)
