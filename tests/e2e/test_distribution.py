"""Runners as separate `opsjobs runner` processes on one PostgreSQL: every job runs exactly
once, a runner killed mid-job leaves its job `lost` while the others carry on, tags route
jobs, and SIGTERM stops a runner gracefully. And `opsjobs exec`, following a job that such
a runner runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time

import psutil
import pytest
from sqlalchemy import func, select, text

from helpers import cli_env, opsjobs_exe
from helpers.execution import opened_store, queue, wait_status
from helpers.runners import HEARTBEAT_SECONDS, LOST_AFTER_SECONDS, name_of, runner_process
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.spec import ExecSpec, ScriptSpec, dump_spec
from opsjobs.store import entities, operations
from opsjobs.store.channels import QUEUED_CHANNEL
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.queue import RUNNER_LOST
from opsjobs.store.schema import jobs

RELAXED = {"OPSJOBS_LOST_AFTER_SECONDS": "30"}


@pytest.fixture
def pg_url(backend, database_url) -> str:
    if backend != "postgresql":
        pytest.skip("separate runner processes share a PostgreSQL database")
    return database_url


async def insert_queued(store, specs: list, **columns) -> list[str]:
    """Insert queued jobs directly, in one transaction, and announce them once."""
    now = now_ms()
    rows = [
        {
            "id": new_id(),
            "owner_id": "1",
            "owner_type": 1,
            "timestamp": now + n,
            "spec": dump_spec(spec),
            **columns,
        }
        for n, spec in enumerate(specs)
    ]
    await insert_jobs(store, rows)
    async with store.write() as conn:
        await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": QUEUED_CHANNEL})
    return [row["id"] for row in rows]


async def wait_all_finished(store, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        async with store.read() as conn:
            unfinished = (
                await conn.execute(
                    select(func.count()).where(jobs.c.status.in_(["queued", "running"]))
                )
            ).scalar_one()
        if unfinished == 0:
            return
        assert time.monotonic() < deadline, f"{unfinished} of {count} jobs still unfinished"
        await asyncio.sleep(0.1)


async def test_two_runners_run_each_of_1000_jobs_exactly_once(pg_url, tmp_path):
    ran = tmp_path / "ran.log"
    # Each run appends its job ID: a job run twice would show up twice (short appends to an
    # O_APPEND file do not interleave).
    spec = ExecSpec(["sh", "-c", f'echo "$OPSJOBS_JOB_ID" >> {ran}'], 30)
    async with opened_store(pg_url) as store:
        with (
            # A generous lost limit: this test is about exactly-once claiming, and on a loaded
            # two-core machine a heartbeat can be later than the short limit the kill -9 test
            # needs; a late heartbeat must not turn a live job into `lost` here.
            runner_process(pg_url, "--concurrency", "4", **RELAXED) as first,
            runner_process(pg_url, "--concurrency", "4", **RELAXED) as second,
        ):
            ids = await insert_queued(store, [spec] * 1000)
            await wait_all_finished(store, 1000, timeout=180)
        async with store.read() as conn:
            rows = (await conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.runner))).all()
    lines = ran.read_text().split()
    assert len(lines) == 1000 and set(lines) == set(ids)
    assert {r.status for r in rows} == {"succeeded"}
    by_runner = {r.runner for r in rows}
    assert by_runner == {name_of(first), name_of(second)}, "both runners took part"


async def test_a_runner_killed_mid_job_leaves_it_lost_and_the_other_carries_on(pg_url):
    async with opened_store(pg_url) as store:
        with (
            runner_process(pg_url, "--tag", "victim") as victim,
            runner_process(pg_url) as survivor,
        ):
            job_id = await queue(store, ScriptSpec("sleep 300", 600), runner_tag="victim")
            document = await wait_status(store, job_id, "running")
            assert document["execution"]["runner"] == name_of(victim)
            while not (children := psutil.Process(victim.pid).children(recursive=True)):
                await asyncio.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at = time.monotonic()
            try:
                document = await wait_status(store, job_id, "lost", timeout=10)
                took = time.monotonic() - killed_at
            finally:
                for child in children:  # orphaned in their own session; not ours to leave
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
            # The last heartbeat was at most one interval before the kill; the reaper looks
            # twice per limit.
            assert took < LOST_AFTER_SECONDS * 1.5 + HEARTBEAT_SECONDS + 1.0
            assert document["execution"]["error"] == RUNNER_LOST
            assert document["execution"]["finished"] is not None
            after = await queue(store, ExecSpec(["echo", "still here"], 30))
            document = await wait_status(store, after)
            assert document["execution"]["status"] == "succeeded"
            assert document["execution"]["runner"] == name_of(survivor)
            assert survivor.poll() is None


async def test_tags_route_jobs_to_the_runners_that_carry_them(pg_url):
    spec = ExecSpec(["true"], 30)
    async with opened_store(pg_url) as store:
        with (
            runner_process(pg_url, "--tag", "red") as red,
            runner_process(pg_url, "--tag", "blue", "--tag", "green") as blue,
        ):
            red_ids = await insert_queued(store, [spec] * 10, runner_tag="red")
            blue_ids = await insert_queued(store, [spec] * 10, runner_tag="blue")
            green_ids = await insert_queued(store, [spec] * 5, runner_tag="green")
            untagged = await insert_queued(store, [spec] * 10)
            orphan = (await insert_queued(store, [spec], runner_tag="nobody"))[0]
            await asyncio.sleep(0.2)
            for job_id in red_ids + blue_ids + green_ids + untagged:
                await wait_status(store, job_id, timeout=30)
        async with store.read() as conn:
            runner_of = dict((await conn.execute(select(jobs.c.id, jobs.c.runner))).all())
            orphan_status = (
                await conn.execute(select(jobs.c.status).where(jobs.c.id == orphan))
            ).scalar_one()
    assert {runner_of[i] for i in red_ids} == {name_of(red)}
    assert {runner_of[i] for i in blue_ids + green_ids} == {name_of(blue)}
    assert {runner_of[i] for i in untagged} <= {name_of(red), name_of(blue)}
    assert orphan_status == "queued", "a job nobody may run waits for its runner"


async def test_sigterm_stops_a_runner_gracefully(pg_url):
    async with opened_store(pg_url) as store:
        with runner_process(
            pg_url, "--concurrency", "2", OPSJOBS_STOP_GRACE_SECONDS="1"
        ) as process:
            short = await queue(store, ScriptSpec("sleep 0.5; echo finished", 30))
            long = await queue(store, ScriptSpec("echo begun; sleep 300", 600))
            await wait_status(store, short, "running")
            await wait_status(store, long, "running")
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = await asyncio.to_thread(process.wait, 15)
            took = time.monotonic() - started
            late = await queue(store, ExecSpec(["true"], 30))
        short_doc = await wait_status(store, short, timeout=1)
        long_doc = await wait_status(store, long, timeout=1)
        async with store.read() as conn:
            late_status = (
                await conn.execute(select(jobs.c.status).where(jobs.c.id == late))
            ).scalar_one()
    assert code == 0
    assert took < 1 + 0.3 + 3
    assert short_doc["execution"]["status"] == "succeeded"
    assert short_doc["description"]["stdout"] == "finished\n"
    assert long_doc["execution"]["status"] == "cancelled"
    assert long_doc["execution"]["error"] == "runner stopped"
    assert long_doc["description"]["stdout"] == "begun\n"
    assert late_status == "queued"


# -- opsjobs exec ---------------------------------------------------------------------------


async def test_exec_follows_the_output_and_exits_with_the_job_exit_code(backend, database_url):
    async with opened_store(database_url) as store:
        object_id = (await entities.create_object(store, name="web-1", parent_ids=["1"]))["id"]
        text = "echo hello {{args.name}} on {{id}}; echo oops >&2; exit 3"
        operation = await operations.create_operation(
            store,
            "object",
            object_id,
            {"name": "greet", "type": 2, "parameters": {"type": "scriptText", "text": text}},
        )
        exec_env = cli_env(OPSJOBS_DATABASE_URL=database_url)
        with runner_process(database_url, OPSJOBS_RUNNER_POLL_SECONDS="0.2"):
            followed = await asyncio.to_thread(
                subprocess.run,
                [opsjobs_exe(), "exec", object_id, operation["id"], "--arg", "name=world",
                 "--follow"],
                env=exec_env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            queued = await asyncio.to_thread(
                subprocess.run,
                [opsjobs_exe(), "exec", object_id, operation["id"], "--arg", "name=x"],
                env=exec_env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            job_id = queued.stdout.strip()
            document = await wait_status(store, job_id)
        missing = await asyncio.to_thread(
            subprocess.run,
            [opsjobs_exe(), "exec", object_id, operation["id"]],
            env=exec_env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert followed.returncode == 3, followed.stderr
    assert followed.stdout == f"hello world on {object_id}\n"
    assert "oops\n" in followed.stderr and "failed: exited with code 3" in followed.stderr
    assert queued.returncode == 0 and len(job_id) == 24
    assert document["operation_id"] == operation["id"]
    assert document["description"]["stdout"] == f"hello x on {object_id}\n"
    assert missing.returncode == 1 and "args.name" in missing.stderr
