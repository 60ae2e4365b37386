"""service/purger.py: the purger a server runs beside the API purges on its interval, shows
what it did in /metrics, stops with the app, and leaves the work to one process at a time."""

from __future__ import annotations

import asyncio
import time

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from helpers import app_client
from helpers.execution import opened_store
from helpers.retention import DAY_MS, make_job, store_jobs
from opsjobs.domain.clock import now_ms
from opsjobs.service.purger import purge_metrics, purge_now
from opsjobs.service.retention import Policy
from opsjobs.store import retention
from opsjobs.store.schema import jobs

DEADLINE_SECONDS = 60


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _exposed() -> str:
    return generate_latest(purge_metrics().registry).decode()


async def _count(store) -> int:
    async with store.read() as conn:
        return len((await conn.execute(jobs.select())).all())


async def test_the_server_purges_on_its_interval_and_says_so_in_metrics(
    backend, database_url
) -> None:
    old = [make_job("a" * 24, "b" * 24, now_ms() - 40 * DAY_MS + i) for i in range(30)]
    async with opened_store(database_url) as store:
        await store_jobs(store, old)
    # The series are this process's, so other tests' purges count too: only the change counts.
    before = _value(_exposed(), "opsjobs_purged_rows_total", step="jobs")
    async with app_client(
        database_url,
        retention_days=30,
        retention_keep_per_owner_operation=4,
        purge_interval_seconds=0.2,
    ) as api:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while await _count(api.store) > 4:
            assert time.monotonic() < deadline, "the purger did not run"
            await asyncio.sleep(0.1)
        # The run's end is recorded just after its last batch; with runs 0.2 s apart a
        # scrape on a busy machine may also land inside the next run: wait for one between.
        while True:
            text = (await api.client.get("/metrics")).text
            ended = _value(text, "opsjobs_purge_last_run_timestamp_seconds") > 0
            if ended and _value(text, "opsjobs_purge_running") == 0:
                break
            assert time.monotonic() < deadline, "the run's end was not recorded"
            await asyncio.sleep(0.1)
    purged = _value(text, "opsjobs_purged_rows_total", step="jobs")
    assert purged - before == 26  # 30 old jobs, 4 kept
    assert _value(text, "opsjobs_purge_running") == 0
    assert _value(text, "opsjobs_purge_last_run_duration_seconds") > 0


async def test_a_process_that_finds_another_purging_leaves_it_the_work(
    backend, database_url
) -> None:
    old = [make_job("c" * 24, None, now_ms() - 40 * DAY_MS + i) for i in range(5)]
    async with opened_store(database_url) as store, opened_store(database_url) as other:
        await store_jobs(store, old)
        async with retention.exclusive(other) as mine:
            assert mine
            assert await purge_now(store, Policy(job_days=30, keep=0)) is None
            assert await _count(store) == 5
        run = await purge_now(store, Policy(job_days=30, keep=0))
        assert run is not None and run.deleted == {"jobs": 5, "batches": 0}
        assert await _count(store) == 0
