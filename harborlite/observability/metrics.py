"""The metrics of one app, in a :class:`~prometheus_client.CollectorRegistry` of its own.

Made by the app factory (never at import time, so two apps in one process, as tests make them,
count apart) and reached through :class:`~harborlite.services.Services`. Label values are
bounded: a surface, an HTTP method from a fixed list, a status code, a job kind, an error code;
never a repository, user or project name (one series per name would grow without end).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from harborlite.cache.manifests import ManifestCache

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SURFACES = ("v2", "api", "token", "portal", "metrics")
# seconds: a manifest from memory is well under a millisecond, a layer download minutes
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
QUICK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


def method_label(method: str) -> str:
    """The method, or ``other`` for anything outside the usual ones (a client picks it)."""
    return method if method in METHODS else "other"


class Metrics:
    """Every metric harborlite exports, with one small method per thing counted."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "harborlite_http_requests",
            "HTTP requests answered, by surface (v2, api, token, portal, metrics), method and "
            "status",
            ["surface", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "harborlite_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer (a blob download included)",
            ["surface"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "harborlite_http_requests_in_progress",
            "Requests being answered now",
            ["surface"],
            registry=r,
        )
        self.registry_answers = Counter(
            "harborlite_registry_answers",
            "/v2/ answers by who gave them: cache, redis, storage, redirect, proxy, harborlite, "
            "refused",
            ["via"],
            registry=r,
        )
        self.storage_bytes = Counter(
            "harborlite_storage_served_bytes",
            "Blob bytes sent to clients straight from the registry's storage (by way: "
            "harborlite_storage_sent_bytes)",
            registry=r,
        )
        self.blob_sent_bytes = Counter(
            "harborlite_storage_sent_bytes",
            "Blob bytes sent straight from the registry's storage, by the way they went: copy "
            "(through a buffer, while few downloads run) or sendfile (while many do)",
            ["way"],
            registry=r,
        )
        self.storage_redirects = Counter(
            "harborlite_storage_redirects",
            "Blob downloads sent to object storage by a presigned redirect",
            registry=r,
        )
        self.proxied_bytes = Counter(
            "harborlite_proxied_bytes",
            "Body bytes that went through the /v2/ proxy: to_client (registry answers) and "
            "to_registry (uploads, manifests)",
            ["direction"],
            registry=r,
        )
        self.direct_bytes = Counter(
            "harborlite_direct_upload_bytes",
            "Blob upload bytes harborlite wrote into the registry's storage itself "
            "(HARBORLITE_DIRECT_UPLOADS; they are not proxied)",
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "harborlite_upstream_latency_seconds",
            "Time the registry took to answer a proxied request (until its status and headers)",
            ["method"],
            buckets=QUICK_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "harborlite_upstream_errors",
            "Proxied requests the registry did not take (refused, reset, unresolvable)",
            registry=r,
        )
        self.tokens_issued = Counter(
            "harborlite_tokens_issued",
            "Registry tokens issued by /service/token, by caller (user, robot, anonymous)",
            ["caller"],
            registry=r,
        )
        self.tokens_refused = Counter(
            "harborlite_tokens_refused",
            "Token requests refused, by error code (UNAUTHORIZED, BAD_REQUEST, ...)",
            ["code"],
            registry=r,
        )
        self.audit_seconds = Histogram(
            "harborlite_audit_write_seconds",
            "Time to write audit entries: from their INSERT to their transaction's commit",
            buckets=QUICK_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "harborlite_job_executions",
            "Background job executions this replica ran, by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "harborlite_job_duration_seconds",
            "How long background job executions ran, by kind",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        # the hot path's children, looked up once (labels() takes a lock and validates)
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children = {s: self.request_seconds.labels(s) for s in SURFACES}
        self._progress_children = {s: self.in_progress.labels(s) for s in SURFACES}

    # ------------------------------------------------------------------ requests

    def request_started(self, surface: str) -> None:
        self._progress_children[surface].inc()

    def request_done(self, surface: str, method: str, status: int, seconds: float) -> None:
        key = (surface, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(surface, method_label(method), str(status))
            if len(self._request_children) < 10_000:  # bounded even by odd statuses
                self._request_children[key] = child
        child.inc()
        self._duration_children[surface].observe(seconds)
        self._progress_children[surface].dec()

    def answered_by(self, via: str) -> None:
        self.registry_answers.labels(via).inc()

    # ------------------------------------------------------------------ bytes and the registry

    def served_from_storage(self, size: int) -> None:
        self.storage_bytes.inc(size)

    def blob_sent(self, way: str, size: int) -> None:
        """Called on a worker thread (prometheus-client's counters are thread-safe)."""
        self.blob_sent_bytes.labels(way).inc(size)

    def redirected_to_storage(self) -> None:
        self.storage_redirects.inc()

    def proxied(self, direction: str, size: int) -> None:
        if size:
            self.proxied_bytes.labels(direction).inc(size)

    def stored_directly(self, size: int) -> None:
        self.direct_bytes.inc(size)

    def upstream_answered(self, method: str, seconds: float) -> None:
        self.upstream_seconds.labels(method_label(method)).observe(seconds)

    def upstream_failed(self) -> None:
        self.upstream_errors.inc()

    # ------------------------------------------------------------------ tokens, audit, jobs

    def token_issued(self, caller: str) -> None:
        self.tokens_issued.labels(caller).inc()

    def token_refused(self, code: str) -> None:
        self.tokens_refused.labels(code).inc()

    def audit_written(self, seconds: float) -> None:
        self.audit_seconds.observe(seconds)

    def job_finished(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_seconds.labels(kind).observe(seconds)

    # ------------------------------------------------------------------ read at scrape time

    def watch_manifest_cache(self, cache: ManifestCache) -> None:
        """The manifest cache's own counts, read when scraped (nothing added to a lookup)."""
        self.registry.register(_ManifestCacheCollector(cache))


class _ManifestCacheCollector(Collector):
    def __init__(self, cache: ManifestCache) -> None:
        self.cache = cache

    def collect(self) -> Iterable[Metric]:
        lookups = CounterMetricFamily(
            "harborlite_manifest_cache_lookups",
            "Manifest GET/HEAD looked up in this process's memory, by result (hit, miss)",
            labels=["result"],
        )
        lookups.add_metric(["hit"], self.cache.hits)
        lookups.add_metric(["miss"], self.cache.misses)
        yield lookups
        yield GaugeMetricFamily(
            "harborlite_manifest_cache_bytes",
            "Manifest bytes held in this process's memory",
            value=self.cache.size_bytes,
        )
        yield GaugeMetricFamily(
            "harborlite_manifest_cache_entries",
            "Manifests held in this process's memory",
            value=len(self.cache),
        )
