"""GET /metrics: Prometheus's text format, through the standard client library.

Two kinds of series. Requests (a counter by method, route template and status, and a latency
histogram by method and route template) are counted in the process that answers them, by
observe.py; the label is the route's template (``/node/api/jobs/{job_id}``), never the raw
path, whose IDs would make series without end. The state of jobs and runners is read from
the database when scraped (store/monitoring.py), so every process of every host answers it
alike.

With ``serve --workers N`` the request series are those of all workers together: the server
then runs prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
api/server.py), and a scrape, whichever worker answers it, sums every worker's files.

Who may read it: clients in OPSJOBS_METRICS_OPEN_TO (the machine itself by default) without
credentials, anyone else only as a user with ``manage-users`` (the client's address as
client.py tells it, through trusted proxies only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from functools import cache

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from ..domain.clock import now_ms
from ..service.purger import purge_metrics
from ..store import monitoring
from .context import Context
from .guards import require_any

log = structlog.get_logger("opsjobs.api")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The text format generate_latest writes, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PERMISSION = "manage-users"
UNMATCHED = "(unmatched)"
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
# From a cached read (well under a millisecond) to a slow list or a stream's start.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A scrape must answer even when the database does not: its series are then left out.
DATABASE_SECONDS = 2.0


class HttpMetrics:
    """The request series of this process."""

    def __init__(self) -> None:
        if os.environ.get(MULTIPROCESS_ENV):
            # A forked worker inherits the choice its parent made when it imported the
            # library, before serve set the directory: choose again, before any metric.
            values.ValueClass = values.get_value_class()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opsjobs_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "opsjobs_http_request_duration_seconds",
            "time from a request's arrival to the start of its response",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple] = {}
        purge_metrics()  # the purger's series (service/purger.py), made after the choice above

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        # Bounded before anything is kept: a client may send any method at all.
        key = (method if method in _METHODS else "other", route or UNMATCHED, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock: once per combination, then cached
            children = (
                self.requests.labels(key[0], key[1], str(status)),
                self.latency.labels(key[0], key[1]),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry) + generate_latest(purge_metrics().registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return generate_latest(combined)


@cache
def http_metrics() -> HttpMetrics:
    """The one set of request series of this process (every app in it shares them)."""
    return HttpMetrics()


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _state_families(snap: monitoring.Snapshot | None) -> list[GaugeMetricFamily]:
    families = [_gauge("opsjobs_database_up", "whether the database answered", snap is not None)]
    if snap is None:
        return families
    now = now_ms()
    jobs = GaugeMetricFamily("opsjobs_jobs", "jobs queued or running", labels=["status"])
    jobs.add_metric(["queued"], snap.queued)
    jobs.add_metric(["running"], snap.running)
    oldest = 0.0 if snap.oldest_queued_ms is None else max(0, now - snap.oldest_queued_ms) / 1000
    heartbeat = GaugeMetricFamily(
        "opsjobs_runner_heartbeat_age_seconds",
        "time since a runner's last heartbeat",
        labels=["runner"],
    )
    busy = GaugeMetricFamily(
        "opsjobs_runner_busy_slots", "jobs a runner is running", labels=["runner"]
    )
    for runner in snap.runners:
        heartbeat.add_metric([runner.name], max(0, now - runner.heartbeat_ms) / 1000)
        busy.add_metric([runner.name], runner.running)
    return [
        *families,
        jobs,
        _gauge("opsjobs_queue_oldest_age_seconds", "age of the oldest queued job", oldest),
        _gauge("opsjobs_runners", "runners registered in the database", len(snap.runners)),
        heartbeat,
        busy,
        *_trigger_families(snap, now),
    ]


def _overdue(due_ms: int | None, now: int) -> float:
    return 0.0 if due_ms is None else max(0, now - due_ms) / 1000


def _trigger_families(snap: monitoring.Snapshot, now: int) -> list[GaugeMetricFamily]:
    lag = _overdue(snap.earliest_firing_ms, now)
    return [
        _gauge(
            "opsjobs_trigger_firings_pending",
            "trigger firings not acted on yet",
            snap.firings_pending,
        ),
        _gauge(
            "opsjobs_trigger_lag_seconds",
            "how long the most overdue trigger firing has been due (0: none is)",
            lag,
        ),
        _gauge(
            "opsjobs_trigger_deliveries_open",
            "trigger messages not delivered yet (pending or being sent)",
            snap.deliveries_open,
        ),
        _gauge(
            "opsjobs_schedule_lag_seconds",
            "how long the most overdue schedule run has been due (0: none is)",
            _overdue(snap.earliest_schedule_ms, now),
        ),
        _gauge("opsjobs_batches_running", "batches still running", snap.batches_running),
        _gauge(
            "opsjobs_batch_targets_waiting",
            "targets of running batches waiting for a job (their concurrency is taken)",
            snap.batch_targets_waiting,
        ),
    ]


class _Families:
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


async def _state(ctx: Context) -> monitoring.Snapshot | None:
    try:
        async with asyncio.timeout(DATABASE_SECONDS):
            return await monitoring.snapshot(ctx.store)
    except Exception as exc:  # the database is down or slow: say so in a series
        log.debug("metrics: the database did not answer", error=type(exc).__name__)
        return None


class MetricsAccess:
    """Open to the configured networks; everyone else needs credentials and the right."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in ctx.settings.metrics_open_to
        )

    def _is_open_to(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    async def check(self, request: Request) -> None:
        if self._is_open_to(self.ctx.auth.peers.address(request)):
            return
        require_any(await self.ctx.auth.authenticate(request), PERMISSION)


def metrics_endpoint(ctx: Context):
    access = MetricsAccess(ctx)

    async def metrics(request: Request) -> Response:
        await access.check(request)
        started = time.perf_counter()
        state = generate_latest(_collected(_state_families(await _state(ctx))))
        body = http_metrics().exposition() + state
        log.debug("metrics scraped", seconds=round(time.perf_counter() - started, 4))
        return Response(body, media_type=CONTENT_TYPE)

    return metrics


def _collected(families: list[GaugeMetricFamily]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return registry
