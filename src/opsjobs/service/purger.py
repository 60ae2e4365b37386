"""The purger each server process runs beside the API: the retention steps every
``purge_interval_seconds``, by one process at a time, with their figures in /metrics."""

from __future__ import annotations

import asyncio
import os
import time
from functools import cache

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, values

from ..store import retention as store_retention
from ..store.core import Store
from .retention import Policy, Run, purge_once

log = structlog.get_logger("opsjobs.retention")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The first run comes this soon after a start (or after one interval, if shorter), so that
# servers restarted more often than the interval still purge.
FIRST_RUN_SECONDS = 60.0


class PurgeMetrics:
    """The purge series of this process; with several workers, prometheus_client's
    multiprocess mode adds them up across workers (api/metrics.py exposes them)."""

    def __init__(self) -> None:
        if os.environ.get(MULTIPROCESS_ENV):
            values.ValueClass = values.get_value_class()  # see api/metrics.py: HttpMetrics
        self.registry = CollectorRegistry()
        self.purged = Counter(
            "opsjobs_purged_rows",
            "rows purged by retention, by step (jobs: job rows; outputs: jobs whose output)",
            ["step"],
            registry=self.registry,
        )
        self.last_run = Gauge(
            "opsjobs_purge_last_run_timestamp_seconds",
            "when the last complete purge run ended (0: none yet in this process)",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.last_duration = Gauge(
            "opsjobs_purge_last_run_duration_seconds",
            "how long the last complete purge run took",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.running = Gauge(
            "opsjobs_purge_running",
            "1 while this process is purging",
            registry=self.registry,
            multiprocess_mode="max",
        )

    def count(self, step: str, rows: int) -> None:
        if rows:
            self.purged.labels(step).inc(rows)

    def finished(self, run: Run) -> None:
        self.last_run.set(run.started + run.seconds)
        self.last_duration.set(run.seconds)


@cache
def purge_metrics() -> PurgeMetrics:
    return PurgeMetrics()


async def purge_now(store: Store, policy: Policy) -> Run | None:
    """One run, if no other process is purging; None when one is."""
    metrics = purge_metrics()
    async with store_retention.exclusive(store) as mine:
        if not mine:
            log.debug("purge skipped: another process is purging")
            return None
        metrics.running.set(1)
        try:
            run = await purge_once(store, policy, progress=lambda s, n: metrics.count(s.name, n))
        finally:
            metrics.running.set(0)
    metrics.finished(run)
    log.info("purge run", seconds=round(run.seconds, 3), **run.deleted)
    return run


async def purge_forever(store: Store, policy: Policy, interval: float) -> None:
    """Purge every ``interval`` seconds until cancelled; a failed run is logged and tried
    again at the next interval (the database may be down for a while)."""
    await asyncio.sleep(min(interval, FIRST_RUN_SECONDS))
    while True:
        started = time.monotonic()
        try:
            await purge_now(store, policy)
        except Exception as exc:  # noqa: BLE001 - an outage must not end the loop
            log.warning("purge run failed", error=type(exc).__name__)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
