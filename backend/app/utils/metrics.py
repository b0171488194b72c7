"""Prometheus metrics of the HTTP layer, and the registry ``/metrics`` renders.

Request counts and latencies are labelled by method, route *template* (``/api/v1/users/{userId}``,
never the raw path: one series per route, whatever the ids) and status. A request that matched
no route is ``route="unmatched"``.

With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory that every
worker can write (wiped before the server starts): prometheus-client then keeps each worker's
values in files there, and a scrape, answered by whichever worker gets it, sums them. Without
it, each process counts in memory (one worker: exact, nothing on disk).

A request is counted in plain Python numbers (``_Series``: a count, a sum, a bucket index found
by bisection), not through prometheus-client on every request: its counter and histogram take a
lock per value they change (three per request, with the label lookups some 4 µs, a tenth of a
small endpoint's time). The numbers are added into prometheus-client's by ``flush``: before every
scrape (so a scrape of this process is exact), at shutdown, and in multiprocess mode every few
seconds too (``app.state_metrics``), as the services' counters are.
"""

from __future__ import annotations

import os
from bisect import bisect_left
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
        self._series: dict[tuple[str, str, int], _Series] = {}
        self._before_scrape: list[Callable[[], None]] = []

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request (on the event loop's thread, as ``flush``)."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # .labels() takes a lock and builds a tuple: once per series.
            labels = (method, route, str(status))
            series = _Series(self.requests.labels(*labels), self.latency.labels(*labels))
            self._series[key] = series
        series.count += 1
        series.total += seconds
        # prometheus-client's rule: the first bucket whose bound is >= the value (+Inf last).
        series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def flush(self) -> None:
        """Add the requests counted since the last flush into prometheus-client's values."""
        for series in self._series.values():
            series.flush()

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
        self.flush()
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


class _Series:
    """One (method, route, status) series' requests since the last flush, and the
    prometheus-client children they are added to."""

    __slots__ = ("buckets", "count", "latency", "requests", "total")

    def __init__(self, requests: Any, latency: Any) -> None:
        self.requests = requests
        self.latency = latency
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: +Inf

    def flush(self) -> None:
        if not self.count:
            return
        self.requests.inc(self.count)
        # Histogram.observe takes one value; its sum and buckets take any amount (the same
        # values observe() changes, in memory or in the multiprocess files).
        self.latency._sum.inc(self.total)
        for index, count in enumerate(self.buckets):
            if count:
                self.latency._buckets[index].inc(count)
                self.buckets[index] = 0
        self.count = 0
        self.total = 0.0


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
