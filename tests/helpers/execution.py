"""Helpers for the execution tests: an opened store, queued jobs, waiting for them to end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from conftest import settings_for_test
from opsjobs.config import Settings
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.jobs import DOCUMENT_COLUMNS, JobStatus, job_document
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.spec import ExecSpec, Spec, dump_spec
from opsjobs.execution.runner import Runner
from opsjobs.service.execute import job_row
from opsjobs.store.core import Store
from opsjobs.store.queue import enqueue

# Quick enough for tests, slow enough for 2 busy cores.
FAST = {
    "heartbeat_seconds": 0.1,
    "lost_after_seconds": 3.0,
    "kill_grace_seconds": 0.3,
    "stop_grace_seconds": 5.0,
    "runner_poll_seconds": 30.0,
}

STATUS = DOCUMENT_COLUMNS.index("status")


def true_job_row(timestamp: int, *, meta: dict | None = None, tag: str | None = None) -> dict:
    """The row of a queued job running ``true`` on the root object, made at ``timestamp``
    (ms), as an execute (``meta`` None), a trigger, a schedule or a batch would queue it."""
    row = job_row(
        owner_id="1",
        kind=EntityKind.OBJECT,
        operation_id=None,
        operation_name="op",
        user_id=None,
        spec='{"type": "exec", "argv": ["true"], "timeout": 5}',
        runner_tag=tag,
        process_meta=None if meta is None else orjson.dumps(meta).decode(),
    )
    return {**row, "timestamp": timestamp}


def runner_settings(database_url: str, **overrides: Any) -> Settings:
    return settings_for_test(database_url, **{**FAST, **overrides})


@contextlib.asynccontextmanager
async def opened_store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def started_runner(store: Store, settings: Settings, **options: Any) -> AsyncIterator[Runner]:
    runner = Runner(store, settings, **options)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def queue(
    store: Store, spec: Spec | str | None, *, owner_id: str = "1", **columns: Any
) -> str:
    """Queue one job with this spec the way the execute route does; answer its ID."""
    job_id = columns.pop("id", None) or new_id()
    row = {
        "id": job_id,
        "owner_id": owner_id,
        "owner_type": 1,
        "timestamp": now_ms(),
        "spec": spec if spec is None or isinstance(spec, str) else dump_spec(spec),
        **columns,
    }
    await enqueue(store, row)
    return job_id


def trivial(*argv: str) -> ExecSpec:
    return ExecSpec(list(argv) or ["true"], 30)


async def document(store: Store, job_id: str) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(job_document(await store.job_row(job_id))))


async def wait_status(
    store: Store, job_id: str, *statuses: str, timeout: float = 15.0
) -> dict[str, Any]:
    """The job document once its status is one of ``statuses`` (any finished one if none)."""
    deadline = time.monotonic() + timeout
    while True:
        row = await store.job_row(job_id)
        status = row[STATUS] if row else None
        if status is not None and (status in statuses if statuses else JobStatus(status).finished):
            return await document(store, job_id)
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {status}, not {statuses or 'finished'}")
        await asyncio.sleep(0.02)


async def rows_when(read, count: int, seconds: float) -> list:
    """``read()`` again every 0.2 s until it answers at least ``count`` rows or ``seconds``
    have passed; its last answer (the caller asserts on it)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await read()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)
