"""The services' own numbers as Prometheus metrics, read at scrape time.

The caches, the key cache, the invalidation listener and the rate limiter keep plain integer
counters (an ``+= 1`` on the hot path, no lock, no label lookup); this collector turns them into
metrics when ``/metrics`` is scraped. Single process: read live, exact. Multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``): each worker copies them into prometheus-client's file-backed
metrics every few seconds (and the scraped worker just before answering), so a scrape sums all
workers, the others up to ``PUBLISH_INTERVAL_SECONDS`` behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.services.auth.identity_cache import IdentityCache
from app.services.auth.invalidation import InvalidationListener
from app.services.auth.keys.cache import JwksCache
from app.services.platform.rate_limit import RateLimiter
from app.utils.metrics import LATENCY_BUCKETS

PUBLISH_INTERVAL_SECONDS: Final = 5.0
NOTICE_LAG_METRIC: Final = "bab_invalidation_notice_lag_seconds"
KEY_SET_STATES: Final = ("ok", "stale", "unavailable", "empty")

Kind = Literal["counter", "gauge"]
# How a gauge combines across workers (prometheus-client's multiprocess_mode).
Combine = Literal["livesum", "livemax"]


class HitCounting(Protocol):
    hits: int
    misses: int


@dataclass(frozen=True)
class Sample:
    name: str
    kind: Kind
    documentation: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    combine: Combine = "livesum"


@dataclass
class MetricSources:
    identity_cache: IdentityCache
    key_cache: JwksCache
    rate_limiter: RateLimiter
    token_cache: HitCounting | None = None
    principal_memo: HitCounting | None = None
    listener: InvalidationListener | None = None
    pool: Any = None  # SQLAlchemy's pool (QueuePool has size/checkedout/overflow)
    clock: Any = field(default=time.monotonic)


def _cache(name: str, what: str, source: HitCounting) -> Iterator[Sample]:
    yield Sample(
        f"bab_{name}_cache_hits", "counter", f"{what} cache hits", source.hits, combine="livesum"
    )
    yield Sample(f"bab_{name}_cache_misses", "counter", f"{what} cache misses", source.misses)


def samples(sources: MetricSources) -> Iterator[Sample]:
    """Every value, read now."""
    if sources.token_cache is not None:
        yield from _cache("token", "Verified-token", sources.token_cache)
    if sources.principal_memo is not None:
        yield from _cache("principal", "Remembered-caller", sources.principal_memo)
    identity = sources.identity_cache
    yield from _cache("identity", "Identity (user and session row)", identity)
    stats = identity.stats()
    for kind in ("users", "sessions"):
        yield Sample(
            "bab_identity_cache_entries",
            "gauge",
            "Rows held by the identity cache",
            float(stats[kind]),  # type: ignore[arg-type]
            (("kind", kind),),
        )

    keys = sources.key_cache
    status = keys.status()
    yield Sample("bab_jwks_fetches", "counter", "Key-set fetches started", keys.fetches)
    yield Sample(
        "bab_jwks_fetch_failures", "counter", "Key-set fetches that failed", keys.fetch_failures
    )
    yield Sample(
        "bab_jwks_keys", "gauge", "Verification keys held", status["keys"], combine="livemax"
    )
    for state in KEY_SET_STATES:
        yield Sample(
            "bab_jwks_key_set_state",
            "gauge",
            "Key set state (ok, stale, unavailable, empty); summed over workers",
            1.0 if status["state"] == state else 0.0,
            (("state", state),),
        )
    if status["last_success_age"] is not None:
        yield Sample(
            "bab_jwks_last_success_age_seconds",
            "gauge",
            "Seconds since the key set was last fetched successfully",
            status["last_success_age"],
            combine="livemax",
        )

    listener = sources.listener
    if listener is not None:
        yield Sample(
            "bab_invalidation_feed_connected",
            "gauge",
            "Whether the cache-invalidation LISTEN connection is up (summed over workers)",
            1.0 if listener.connected.is_set() else 0.0,
        )
        yield Sample(
            "bab_invalidation_notices",
            "counter",
            "Cache-invalidation notices received",
            listener.notices,
        )
        yield Sample(
            "bab_invalidation_connects",
            "counter",
            "Times the invalidation feed (re)connected",
            listener.connects,
        )
        if listener.last_alive is not None:
            yield Sample(
                "bab_invalidation_feed_lag_seconds",
                "gauge",
                "Seconds since the feed last proved alive (connect, heartbeat echo, or with the "
                "heartbeat off a keep-alive every 10 s); per-notice lag is "
                f"{NOTICE_LAG_METRIC}",
                max(0.0, sources.clock() - listener.last_alive),
                combine="livemax",
            )

    for scope, count in sources.rate_limiter.refusals.items():
        yield Sample(
            "bab_rate_limit_refusals",
            "counter",
            "Requests refused with 429, by limit scope",
            count,
            (("scope", scope),),
        )

    pool = sources.pool
    if pool is not None and hasattr(pool, "checkedout"):
        yield Sample(
            "bab_db_pool_size", "gauge", "Database pool size (persistent connections)", pool.size()
        )
        yield Sample(
            "bab_db_pool_checked_out",
            "gauge",
            "Database connections in use",
            pool.checkedout(),
        )
        yield Sample(
            "bab_db_pool_overflow",
            "gauge",
            "Connections open beyond the pool size (negative: not yet opened)",
            pool.overflow(),
        )
    gate = getattr(pool, "gate", None)  # app.pool.GatedPool: the FIFO queue in front of it
    if gate is not None:
        yield Sample(
            "bab_db_queue_waiting",
            "gauge",
            "Requests queued (first come, first served) for a database connection",
            gate.waiting,
        )
        yield Sample(
            "bab_db_queue_timeouts",
            "counter",
            "Requests that queued for a database connection too long (503)",
            gate.timeouts,
        )


class StateCollector(Collector):
    """Single-process mode: the samples, read at scrape time."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources
        self.notice_lag = observe_notice_lag(sources.listener)

    def collect(self) -> Iterator[Metric]:
        if self.notice_lag is not None:
            yield from self.notice_lag.collect()
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for sample in samples(self.sources):
            family = families.get(sample.name)
            if family is None:
                label_names = [name for name, _ in sample.labels]
                family_type = CounterMetricFamily if sample.kind == "counter" else GaugeMetricFamily
                family = family_type(sample.name, sample.documentation, labels=label_names)
                families[sample.name] = family
            family.add_metric([value for _, value in sample.labels], sample.value)
        yield from families.values()


class Publisher:
    """Multiprocess mode: copies the samples into file-backed metrics (counters by delta)."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources
        self.notice_lag = observe_notice_lag(sources.listener)  # to the files by itself
        self._metrics: dict[str, Counter | Gauge] = {}
        self._published: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def publish(self) -> None:
        for sample in samples(self.sources):
            metric = self._metric(sample)
            values = [value for _, value in sample.labels]
            if isinstance(metric, Counter):
                key = (sample.name, sample.labels)
                delta = sample.value - self._published.get(key, 0.0)
                if delta > 0:
                    (metric.labels(*values) if values else metric).inc(delta)
                self._published[key] = sample.value
            else:
                (metric.labels(*values) if values else metric).set(sample.value)

    def _metric(self, sample: Sample) -> Counter | Gauge:
        metric = self._metrics.get(sample.name)
        if metric is None:
            label_names = [name for name, _ in sample.labels]
            if sample.kind == "counter":
                metric = Counter(sample.name, sample.documentation, label_names, registry=None)
            else:
                metric = Gauge(
                    sample.name,
                    sample.documentation,
                    label_names,
                    registry=None,
                    multiprocess_mode=sample.combine,
                )
            self._metrics[sample.name] = metric
        return metric


def observe_notice_lag(listener: InvalidationListener | None) -> Histogram | None:
    """The feed's per-notice lag, observed by the listener itself on each heartbeat echo (one
    value per event: a histogram, not a sample read at scrape time). Registered nowhere: in
    multiprocess mode prometheus-client keeps it in the shared files (summed at scrape like the
    HTTP histogram); in one process :class:`StateCollector` yields it."""
    if listener is None:
        return None
    histogram = Histogram(
        NOTICE_LAG_METRIC,
        "Seconds from a heartbeat's COMMIT to its NOTIFY reaching this worker's listener: the "
        "path (trigger, channel, delivery) every change notice takes",
        buckets=LATENCY_BUCKETS,  # about a millisecond, up to the heartbeat's timeout
        registry=None,
    )
    listener.lag_observer = histogram.observe
    return histogram
