"""``GET /metrics``: Prometheus text format, for a scraper only.

Private by default: answered to a client whose address is in ``METRICS_ALLOWED_IPS`` (loopback
by default; behind a proxy, the address uvicorn's ``--proxy-headers`` resolved) or that sends
``Authorization: Bearer <METRICS_TOKEN>``; anyone else gets the same 404 as an unknown path.
``METRICS_ENABLED=false`` removes the route.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address, ip_network

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.config import Settings
from app.utils.errors import NotFound
from app.utils.metrics import METRICS_CONTENT_TYPE, Metrics


def build_router(settings: Settings, metrics: Metrics) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    networks = [ip_network(item, strict=False) for item in settings.metrics_allowed_ips]
    token = settings.metrics_token.encode()

    def allowed(request: Request) -> bool:
        if token:
            scheme, _, credential = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credential.encode(), token):
                return True
        host = request.client.host if request.client else ""
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in networks)

    @router.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        if not allowed(request):
            raise NotFound("Not Found")
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return router
