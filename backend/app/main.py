"""Application factory. ``uvicorn app.main:app`` serves the module-level instance."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from opentelemetry.sdk.trace.export import SpanExporter

from app.config import Settings, SettingsError, get_settings
from app.database import DatabaseUrlError, create_engine, resolve_database_target
from app.routers import audit, auth, health, organizations, user_sessions, users
from app.routers import metrics as metrics_router
from app.routers.admin_console import install_admin_console
from app.routers.credentials import SECURITY_SCHEMES
from app.routers.deps import is_authenticator
from app.routers.docs import install_docs
from app.routers.fast_path import FastPaths, answer_me, answer_user_list
from app.routers.security_docs import document_security
from app.services.access import AccessControlError
from app.state import build_access_control, build_app_state, build_org_access
from app.state_metrics import start_state_metrics
from app.utils.cors import ProblemCORSMiddleware
from app.utils.exceptions import install_exception_handlers
from app.utils.logging import configure_logging, get_logger
from app.utils.metrics import Metrics
from app.utils.middleware import EdgeMiddleware
from app.utils.route_index import install_route_index
from app.utils.telemetry import configure_tracing
from app.utils.warmup import warm_up

API_PREFIX = "/api/v1"
logger = get_logger(__name__)


def _operation_id(route: APIRoute) -> str:
    """``users-list_users``: a generated TypeScript client reads well with these."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(
    settings: Settings | None = None, *, span_exporter: SpanExporter | None = None
) -> FastAPI:
    """The app; with ``span_exporter`` (tests), traced into it whatever the settings say."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    metrics = Metrics(multiprocess_dir=settings.prometheus_multiproc_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_app_state(settings, create_engine(settings))
        app.state.services = state
        if tracing is not None:
            tracing.instrument_services(state.engine, state.http_client)
        stop_metrics = start_state_metrics(metrics, state)
        state.start()
        # Everything built so far (app, routes, schemas, pools) lives as long as the process:
        # moved out of the collector's reach, a full collection no longer walks it (a pause
        # of tens of milliseconds every few thousand requests, the worst of the latency tail).
        # What the first request would build is built now, to be frozen too.
        await warm_up(app)
        gc.collect()
        gc.freeze()
        logger.info("started", environment=settings.environment.value)
        if not settings.session_secret:
            logger.warning(
                "No BETTER_AUTH_SECRET(S) is set: signed session tokens and session cookies "
                "will be refused (bare bearer session tokens and JWTs still work)"
            )
        try:
            yield
        finally:
            await stop_metrics()
            await state.aclose()
            if tracing is not None:
                tracing.shutdown()
            logger.info("stopped")

    docs = settings.docs_enabled
    app = FastAPI(
        title="FastAPI Better-Auth backend",
        version="0.1.0",
        summary="A FastAPI service that trusts a Better-Auth server and shares its database.",
        lifespan=lifespan,
        # The documentation pages are ours (app.routers.docs): assets served offline.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/openapi.json" if docs else None,
        generate_unique_id_function=_operation_id,
        # Tracing is ours (app.utils.telemetry: an OpenTelemetry instrumentor when an OTLP
        # endpoint is set) and metrics are Prometheus's; FastAPI's native telemetry would only
        # ask the global OpenTelemetry providers on every request whether it has work to do.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_exception_handlers(app)
    app.state.metrics = metrics
    # Included directly, not through a parent router. Their order decides which of two routes
    # that both match a request wins, not what matching costs: the route index (below) finds a
    # request's route among the few whose static text fits its path.
    for router in (
        users.router,
        auth.router,
        user_sessions.router,
        organizations.router,
        audit.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(metrics_router.build_router(settings, metrics))
    if docs:
        install_docs(app)
    if settings.admin_console_enabled:
        install_admin_console(app, settings)
    document_security(app, SECURITY_SCHEMES, is_authenticator)
    install_route_index(app)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Organization-Id"],
            expose_headers=["X-Request-ID", "Retry-After", "WWW-Authenticate"],
        )
    # Outside CORS (it passes on any request with an Origin) and inside the edge.
    app.add_middleware(
        FastPaths,
        answers={f"{API_PREFIX}/users/me": answer_me, f"{API_PREFIX}/users": answer_user_list},
        api_key_header=settings.api_key_header,
    )
    # Outside CORS: its answers get the security headers and a request id too.
    app.add_middleware(
        EdgeMiddleware,
        settings=settings,
        metrics=metrics if settings.metrics_enabled else None,
        unmetered=("/metrics",),
    )
    # Outermost: a request's span covers everything the app does with it.
    tracing = configure_tracing(app, settings, span_exporter)
    return app


def _create_default_app() -> FastAPI:
    try:
        settings = get_settings()
        # DATABASE_URL's query arguments are translated when the engine is built (in the
        # lifespan); check them now so a bad one stops the process with one line too.
        resolve_database_target(
            settings.database_url, statement_cache=settings.database_statement_cache
        )
        # Likewise the access-control file, read again when the state is built.
        build_org_access(settings, build_access_control(settings))
        return create_app(settings)
    except (SettingsError, DatabaseUrlError) as error:
        # One clear line naming the variable, not a traceback.
        raise SystemExit(str(error)) from None
    except AccessControlError as error:
        raise SystemExit(f"invalid setting ACCESS_CONTROL_FILE: {error}") from None


app = _create_default_app()
