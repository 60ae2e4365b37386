"""Retention in a real server: `opsjobs serve` with a retention limit purges the old history
in batches while GET /node/api/jobs/:id keeps answering, keeps the per-owner minimum, and
shows what it did in /metrics."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from conftest import basic
from helpers import cli_env, running_server
from helpers.execution import opened_store
from helpers.retention import DAY_MS, make_job, store_jobs
from opsjobs.domain.clock import now_ms
from opsjobs.domain.passwords import Passwords
from opsjobs.store import entities, users

OLD_JOBS = 5_000
DEADLINE_SECONDS = 180
_PURGED = re.compile(r'^opsjobs_purged_rows_total\{step="jobs"\} (\S+)$', re.M)
_LAST_RUN = re.compile(r"^opsjobs_purge_last_run_timestamp_seconds (\S+)$", re.M)


async def _history(database_url: str) -> tuple[dict, list, list]:
    """A viewer, and one object's jobs of one operation: OLD_JOBS of 40 to 41 days, 4 of
    yesterday."""
    now = now_ms()
    async with opened_store(database_url) as store:
        host = await entities.create_object(store, name="web-1", parent_ids=["1"])
        await users.create_user(
            store, login="viewer", password_hash=Passwords(1, 8).hash("viewer-pw-3a"), include=["1"]
        )  # fmt: skip
        old = [make_job(host["id"], "f" * 24, now - 41 * DAY_MS + i * 1000) for i in range(OLD_JOBS)]  # fmt: skip
        recent = [make_job(host["id"], "f" * 24, now - DAY_MS + i) for i in range(4)]
        await store_jobs(store, [*old, *recent], output=False)
    return basic("viewer", "viewer-pw-3a"), old, recent


def _status(client: httpx.Client, job_id: str, auth: dict) -> int:
    return client.get(f"/node/api/jobs/{job_id}", headers=auth).status_code


def test_the_api_answers_while_the_server_purges(backend, database_url) -> None:
    auth, old, recent = asyncio.run(_history(database_url))
    env = cli_env(
        OPSJOBS_RETENTION_DAYS="30",
        OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION="10",
        OPSJOBS_PURGE_INTERVAL_SECONDS="1",
        OPSJOBS_EMBEDDED_RUNNER="false",
    )
    answers_under_way = []
    with (
        running_server(database_url, env=env) as (base, _process),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while _status(client, old[OLD_JOBS - 7].id, auth) == 200:  # the last to go
            assert time.monotonic() < deadline, "the purge did not end in time"
            kept = _status(client, recent[0].id, auth)
            if _status(client, old[0].id, auth) == 404:  # the first to go: under way
                answers_under_way.append(kept)
        metrics = client.get("/metrics").text
        while not _LAST_RUN.search(metrics) or float(_LAST_RUN.search(metrics)[1]) == 0:
            assert time.monotonic() < deadline, "the purge run did not end in time"
            time.sleep(0.2)
            metrics = client.get("/metrics").text
        # The minimum of ten: the four recent jobs and the six newest old ones.
        assert [_status(client, j.id, auth) for j in old[-6:] + recent] == [200] * 10
    assert answers_under_way and set(answers_under_way) == {200}
    assert float(_PURGED.search(metrics)[1]) == OLD_JOBS - 6
