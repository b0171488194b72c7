"""OpenTelemetry tracing: a span per request (FastAPI), per SQL statement (SQLAlchemy) and per
outgoing HTTP call (httpx: the JWKS fetches).

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (spans go to ``<endpoint>/v1/traces``, OTLP over
HTTP/protobuf, in batches), off otherwise: nothing is instrumented and the request path pays
nothing. Tests pass their own exporter (an in-memory one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings

# Probes and scrapes would drown the traces.
EXCLUDED_URLS = "/health/live,/health/ready,/metrics"


@dataclass
class Tracing:
    provider: TracerProvider
    _engine_tracer: Any = None

    def instrument_services(self, engine: AsyncEngine, http_client: httpx.AsyncClient) -> None:
        """The lifespan's engine and HTTP client (built after the app)."""
        # skip_dep_check: the instrumentation declares "sqlalchemy < 2.1" but its engine event
        # hooks work unchanged on 2.1 (tests/test_observability.py checks the spans).
        self._engine_tracer = SQLAlchemyInstrumentor().instrument(
            engine=engine.sync_engine,
            tracer_provider=self.provider,
            enable_commenter=False,
            skip_dep_check=True,
        )
        HTTPXClientInstrumentor.instrument_client(http_client, tracer_provider=self.provider)

    def shutdown(self) -> None:
        SQLAlchemyInstrumentor().uninstrument()
        self.provider.shutdown()


def configure_tracing(
    app: FastAPI, settings: Settings, exporter: SpanExporter | None = None
) -> Tracing | None:
    """Instrument ``app`` when an endpoint (or a test's ``exporter``) is given."""
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
    if exporter is None and not endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: settings.otel_service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
        )
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    return Tracing(provider)
