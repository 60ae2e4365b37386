"""What `lost` means, with real processes: a runner killed with `kill -9` leaves none of its
jobs' processes behind (its watchdog ends them at once; if the watchdog dies with it, the
reaper on this host ends them before it marks the jobs lost, or the next runner started on
this host does), the reaper of a `serve` without a runner finds them, and a script's
children in its group go with it. Each script would leave a mark at its end: none may."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import psutil
import pytest

from helpers import cli_env, running_server
from helpers.execution import opened_store, queue, wait_status
from helpers.runners import LOST_AFTER_SECONDS, name_of, runner_process
from opsjobs.domain.spec import ScriptSpec
from opsjobs.execution.leftovers import marked_processes
from opsjobs.store.queue import RUNNER_LOST, lost_candidates, mark_lost

# Long enough that a mark appearing means the run was not ended, on a busy machine too.
RUN_SECONDS = 10
# On SQLite a runner finds jobs queued by another process by polling.
POLL = {"OPSJOBS_RUNNER_POLL_SECONDS": "0.2"}


def leaves_marks(directory: Path) -> ScriptSpec:
    """A run with a child in its group: each would leave a mark if it lived to its end."""
    text = (
        f"(sleep {RUN_SECONDS}; touch {directory}/child-$OPSJOBS_JOB_ID) &\n"
        f"sleep {RUN_SECONDS}; touch {directory}/main-$OPSJOBS_JOB_ID; wait\n"
    )
    return ScriptSpec(text, 120)


async def running_processes(job_ids: list[str], timeout: float = 30) -> dict[str, list[int]]:
    """Each job's processes once all of them show at least a main process and a child."""
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(marked_processes)
        if all(len(found.get(job_id, ())) >= 2 for job_id in job_ids):
            return {job_id: found[job_id] for job_id in job_ids}
        assert time.monotonic() < deadline, f"processes not seen: {found}"
        await asyncio.sleep(0.05)


async def still_running(job_ids: list[str]) -> dict[str, list[int]]:
    found = await asyncio.to_thread(marked_processes)
    return {job_id: found[job_id] for job_id in job_ids if job_id in found}


async def wait_gone(job_ids: list[str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while left := await still_running(job_ids):
        assert time.monotonic() < deadline, f"processes left: {left}"
        await asyncio.sleep(0.05)


def no_marks_after_their_time(directory: Path, started: float) -> None:
    time.sleep(max(0.0, started + RUN_SECONDS + 2 - time.monotonic()))
    assert sorted(p.name for p in directory.iterdir()) == []


def watchdog_of(runner) -> psutil.Process:
    for child in psutil.Process(runner.pid).children():
        if "opsjobs.execution.watchdog" in " ".join(child.cmdline()):
            return child
    raise AssertionError("the runner has no watchdog")


def kill_with_its_watchdog(runner) -> None:
    """kill -9 the runner and its watchdog as if at once: the watchdog is frozen first, so
    it cannot act on the runner's death."""
    watchdog = watchdog_of(runner)
    watchdog.suspend()
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    watchdog.kill()
    watchdog.wait(10)


@contextlib.contextmanager
def cleanup(job_ids: list[str]):
    """Whatever a failed test leaves running is not left to the next one."""
    try:
        yield
    finally:
        for pids in marked_processes().values():
            for pid in pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()


async def test_a_killed_runners_runs_die_with_it(backend, database_url, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    async with opened_store(database_url) as store:
        with (
            runner_process(database_url, "--tag", "victim", **POLL) as victim,
            runner_process(database_url, **POLL) as survivor,
        ):
            ids = [await queue(store, leaves_marks(marks), runner_tag="victim") for _ in range(3)]
            started = time.monotonic()
            with cleanup(ids):
                await running_processes(ids)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                await wait_gone(ids, timeout=5)  # the watchdog's doing: no reaper yet
                for job_id in ids:
                    document = await wait_status(store, job_id, "lost", timeout=30)
                    (entry,) = document["execution"]["history"]
                    assert entry["by"] == name_of(survivor)
                    assert name_of(victim) in entry["detail"]
                await asyncio.to_thread(no_marks_after_their_time, marks, started)


async def test_the_reaper_ends_the_runs_before_it_marks_them_lost(pg_url, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    async with opened_store(pg_url) as store:
        with (
            runner_process(pg_url, "--tag", "victim") as victim,
            runner_process(pg_url) as survivor,
        ):
            ids = [await queue(store, leaves_marks(marks), runner_tag="victim") for _ in range(3)]
            started = time.monotonic()
            with cleanup(ids):
                await running_processes(ids)
                kill_with_its_watchdog(victim)
                for job_id in ids:
                    await wait_status(store, job_id, "lost", timeout=30)
                    assert job_id not in await still_running([job_id]), "ended before lost"
                said = survivor.log_path.read_text()
                assert "ended the processes of lost jobs" in said
                assert all(job_id in said for job_id in ids)
                await asyncio.to_thread(no_marks_after_their_time, marks, started)


async def test_a_server_without_a_runner_reaps_a_killed_runners_jobs(
    backend, database_url, tmp_path
):
    marks = tmp_path / "marks"
    marks.mkdir()
    env = cli_env(
        OPSJOBS_EMBEDDED_RUNNER="false", OPSJOBS_LOST_AFTER_SECONDS=str(LOST_AFTER_SECONDS)
    )
    async with opened_store(database_url) as store:
        with (
            running_server(database_url, env=env) as (_, server),
            runner_process(database_url, **POLL) as victim,
        ):
            ids = [await queue(store, leaves_marks(marks)) for _ in range(2)]
            started = time.monotonic()
            with cleanup(ids):
                await running_processes(ids)
                kill_with_its_watchdog(victim)
                for job_id in ids:
                    document = await wait_status(store, job_id, "lost", timeout=30)
                    assert document["execution"]["error"] == RUNNER_LOST
                    (entry,) = document["execution"]["history"]
                    assert entry["by"].endswith(f"/{server.pid}") or entry["by"] != name_of(victim)
                await wait_gone(ids, timeout=5)
                await asyncio.to_thread(no_marks_after_their_time, marks, started)


async def test_the_next_runner_on_the_host_ends_runs_lost_elsewhere(
    backend, database_url, tmp_path
):
    marks = tmp_path / "marks"
    marks.mkdir()
    async with opened_store(database_url) as store:
        ids: list[str] = []
        with cleanup(ids):
            # A long limit: no reaper here judges the victim; "another host" does, below.
            with runner_process(database_url, OPSJOBS_LOST_AFTER_SECONDS="600", **POLL) as victim:
                ids += [await queue(store, leaves_marks(marks)) for _ in range(2)]
                started = time.monotonic()
                await running_processes(ids)
                kill_with_its_watchdog(victim)
            # As a reaper on another host would: it can mark them lost, not end them.
            await asyncio.sleep(0.3)
            judged = await lost_candidates(store, 0.2)
            assert sorted(c.job_id for c in judged) == sorted(ids)
            assert sorted(await mark_lost(store, judged, "elsewhere/1")) == sorted(ids)
            assert set(await still_running(ids)) == set(ids)
            with runner_process(database_url, OPSJOBS_LOST_AFTER_SECONDS="600", **POLL):
                await wait_gone(ids, timeout=5)  # ended as it started
            await asyncio.to_thread(no_marks_after_their_time, marks, started)


@pytest.fixture
def pg_url(backend, database_url) -> str:
    if backend != "postgresql":
        pytest.skip("the same on SQLite is covered by the tests above")
    return database_url
