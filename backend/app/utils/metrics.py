"""Prometheus metrics of the HTTP layer, and the registry ``/metrics`` renders.

Request counts and latencies are labelled by method, route *template* (``/api/v1/users/{userId}``,
never the raw path: one series per route, whatever the ids) and status. A request that matched
no route is ``route="unmatched"``.

With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory that every
worker can write (wiped before the server starts): prometheus-client then keeps each worker's
values in files there, and a scrape, answered by whichever worker gets it, sums them. Without
it, each process counts in memory (one worker: exact, nothing on disk).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Final

from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector
from starlette.types import Scope

METRICS_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# The hot path answers in about a millisecond; a slow database in seconds.
LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
UNMATCHED: Final = "unmatched"
_LABELS: Final = ("method", "route", "status")


class Metrics:
    """The app's metrics. ``multiprocess_dir``: prometheus-client's multiprocess mode."""

    def __init__(self, *, multiprocess_dir: str = "") -> None:
        self.multiprocess = bool(multiprocess_dir)
        # In multiprocess mode values live in files; the registry is built per scrape.
        self.registry: CollectorRegistry | None = None if self.multiprocess else CollectorRegistry()
        self.requests = Counter(
            "bab_http_requests",
            "HTTP requests answered, by method, route template and status",
            _LABELS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "bab_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by route template",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._before_scrape: list[Callable[[], None]] = []

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            # .labels() takes a lock and builds a tuple: do it once per series.
            labels = (method, route, str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def register(self, collector: Collector) -> None:
        """A collector read at scrape time (single-process mode)."""
        if self.registry is not None:
            self.registry.register(collector)

    def unregister(self, collector: Collector) -> None:
        if self.registry is not None:
            self.registry.unregister(collector)

    def before_scrape(self, hook: Callable[[], None]) -> None:
        self._before_scrape.append(hook)

    def render(self) -> bytes:
        for hook in self._before_scrape:
            hook()
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Drop this worker's live gauges (multiprocess mode); its counters keep counting."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def route_templates(routes: Iterable[Any]) -> dict[int, str]:
    """The full path template of every route object, by ``id``: FastAPI includes routers lazily,
    so a matched route's own ``path`` lacks its routers' prefixes."""
    templates: dict[int, str] = {}
    for context in iter_route_contexts(list(routes)):
        templates.setdefault(id(context.original_route), str(context.path))
    return templates


class RouteTemplates:
    """The template a request matched (``/api/v1/users/{userId}``), read after the app ran."""

    def __init__(self) -> None:
        self._templates: dict[int, str] = {}

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        template = self._templates.get(id(route))
        if template is None:
            # First request on this route (or the app's routes changed): map them all once.
            app = scope.get("app")
            self._templates = route_templates(getattr(app, "routes", ()))
            template = self._templates.setdefault(id(route), str(getattr(route, "path", "")))
        return template
