"""The runner and the queue, in process, on SQLite and PostgreSQL: claiming, wake-ups,
concurrency, heartbeats, the reaper, cancelling, graceful stop, live output."""

from __future__ import annotations

import asyncio
import os
import time

import orjson
import psutil
import pytest
from sqlalchemy import insert, select, update

from helpers.execution import (
    opened_store,
    queue,
    runner_settings,
    started_runner,
    trivial,
    wait_status,
)
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.outcome import Outcome
from opsjobs.domain.output import STDOUT, Chunk
from opsjobs.domain.spec import ScriptSpec, dump_spec
from opsjobs.execution import finisher as finisher_module
from opsjobs.execution import runner as runner_module
from opsjobs.execution.reaper import reap_once
from opsjobs.execution.runner import Runner
from opsjobs.store.immediate import CHECKPOINT_EVERY
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.output import read_output
from opsjobs.store.queue import (
    RUNNER_LOST,
    LostCandidate,
    cancel,
    claim,
    claim_many,
    finish,
    mark_lost,
)
from opsjobs.store.schema import jobs, runners


@pytest.fixture
async def store(backend, database_url):
    async with opened_store(database_url) as opened:
        yield opened


@pytest.fixture
def settings(database_url):
    return runner_settings(database_url)


def script(text: str, timeout: float = 30) -> ScriptSpec:
    return ScriptSpec(text=text, timeout=timeout)


async def column(store, job_id: str, name: str):
    async with store.read() as conn:
        return (await conn.execute(select(jobs.c[name]).where(jobs.c.id == job_id))).scalar_one()


async def set_columns(store, job_id: str, **values) -> None:
    async with store.write() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


async def stored_text(store, job_id: str) -> str:
    return (await read_output(store, job_id, STDOUT, 0, 1 << 30)).decode()


# -- claiming -------------------------------------------------------------------------------


async def test_a_queued_job_runs_and_is_recorded(store, settings):
    async with started_runner(store, settings) as runner:
        before = now_ms()
        job_id = await queue(store, trivial("echo", "Hello, world!"))
        document = await wait_status(store, job_id)
    assert document["description"] == {"stdout": "Hello, world!\n", "exitCode": 0, "stderr": ""}
    execution = document["execution"]
    assert execution["status"] == "succeeded"
    assert execution["runner"] == runner.name
    assert execution["error"] is None and execution["truncated"] is False
    assert before <= execution["started"] <= execution["finished"]
    assert await column(store, job_id, "heartbeat") >= execution["started"]


async def test_claim_takes_the_oldest_job_a_runner_may_run(store):
    base = now_ms()
    blue = await queue(store, trivial(), timestamp=base, runner_tag="blue")
    untagged_new = await queue(store, trivial(), timestamp=base + 20)
    untagged_old = await queue(store, trivial(), timestamp=base + 10)
    red = await queue(store, trivial(), timestamp=base + 30, runner_tag="red")
    assert (await claim(store, "r/1")).id == untagged_old
    assert (await claim(store, "r/1")).id == untagged_new
    assert await claim(store, "r/1") is None, "an untagged runner takes no tagged job"
    assert (await claim(store, "r/2", ["red"])).id == red
    assert await claim(store, "r/2", ["red"]) is None
    taken = await claim(store, "r/3", ["green", "blue"])
    assert taken.id == blue and taken.owner_id == "1"
    assert await column(store, blue, "runner") == "r/3"
    assert await column(store, blue, "status") == "running"


async def test_claim_many_takes_up_to_its_limit_oldest_first(store):
    base = now_ms()
    ids = [await queue(store, trivial(), timestamp=base + n) for n in range(5)]
    await queue(store, trivial(), timestamp=base - 1, runner_tag="elsewhere")
    assert [j.id for j in await claim_many(store, "r/1", limit=3)] == ids[:3]
    assert [j.id for j in await claim_many(store, "r/1", limit=3)] == ids[3:]
    assert await claim_many(store, "r/1", limit=3) == []


async def test_concurrent_claims_never_take_a_job_twice(store):
    ids = {await queue(store, trivial()) for _ in range(60)}

    async def claimer(n: int) -> list[str]:
        taken = []
        while claimed := await claim_many(store, f"r/{n}", limit=n % 3 + 1):
            taken += [job.id for job in claimed]
        return taken

    results = await asyncio.gather(*(claimer(n) for n in range(8)))
    claimed = [job_id for taken in results for job_id in taken]
    assert len(claimed) == len(set(claimed)) == 60
    assert set(claimed) == ids


async def test_a_runner_runs_at_most_its_concurrency(store, settings):
    ids = [await queue(store, script("sleep 0.3")) for _ in range(5)]
    most = 0
    async with started_runner(store, settings, concurrency=2):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            async with store.read() as conn:
                statuses = [r.status for r in await conn.execute(select(jobs.c.status))]
            most = max(most, statuses.count("running"))
            if all(s == "succeeded" for s in statuses):
                break
            await asyncio.sleep(0.02)
    assert most == 2
    for job_id in ids:
        assert (await wait_status(store, job_id))["execution"]["status"] == "succeeded"


async def test_an_enqueue_wakes_an_idle_runner_without_waiting_for_the_poll(store, settings):
    async with started_runner(store, settings):  # polls every 30 s
        await asyncio.sleep(0.3)
        started = time.monotonic()
        job_id = await queue(store, trivial())
        await wait_status(store, job_id, timeout=5)
    assert time.monotonic() - started < 2


async def test_a_job_queued_by_another_process_wakes_the_runner(backend, store, database_url):
    if backend == "sqlite":
        pytest.skip("SQLite runners of other processes find jobs by polling")
    async with started_runner(store, runner_settings(database_url)):
        await asyncio.sleep(0.3)
        async with opened_store(database_url) as elsewhere:  # its own event, pool, everything
            started = time.monotonic()
            job_id = await queue(elsewhere, trivial())
            await wait_status(elsewhere, job_id, timeout=5)
    assert time.monotonic() - started < 2, "LISTEN/NOTIFY woke the runner, not its poll"


async def test_a_slow_poll_finds_jobs_nobody_announced(store, database_url):
    settings = runner_settings(database_url, runner_poll_seconds=0.2)
    async with started_runner(store, settings):
        await asyncio.sleep(0.3)
        job_id = new_id()
        # Inserted behind the queue's back: no event, no NOTIFY.
        await insert_jobs(
            store,
            [
                {
                    "id": job_id,
                    "owner_id": "1",
                    "owner_type": 1,
                    "timestamp": now_ms(),
                    "spec": '{"type":"exec","argv":["true"],"timeout":5}',
                }
            ],
        )
        document = await wait_status(store, job_id, timeout=5)
    assert document["execution"]["status"] == "succeeded"


async def test_queue_writes_wait_their_turn_while_sqlite_is_locked(backend, store):
    """The immediate SQLite path never waits for the lock on the event loop: it steps aside
    for the ordinary async path, which waits for the writer and then does the same work."""
    if backend != "sqlite":
        pytest.skip("SQLite's write lock")
    first = await queue(store, trivial())
    async with store.write() as conn:  # the async writer holds the write lock
        await conn.execute(update(jobs).where(jobs.c.id == first).values(error=None))
        enqueuing = asyncio.create_task(queue(store, trivial()))
        claiming = asyncio.create_task(claim_many(store, "r/1", limit=5))
        await asyncio.sleep(0.2)
        assert not enqueuing.done() and not claiming.done()
    second = await enqueuing
    claimed = [job.id for job in await claiming]
    assert first in claimed
    writing = []
    async with store.write():
        for job_id in claimed:
            outcome = Outcome(JobStatus.SUCCEEDED, {"exitCode": 0})
            writing.append(asyncio.create_task(finish(store, "r/1", job_id, outcome)))
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in writing)
    assert all([await task for task in writing])
    assert await column(store, first, "status") == "succeeded"
    assert await column(store, second, "status") in ("queued", "succeeded")


async def test_the_sqlite_log_stays_bounded_under_steady_writes(backend, store):
    """Checkpoints run in a thread while queue writes pause, so each one finishes and the
    log starts over: under writes that never stop it stays about one interval's size
    instead of growing with every commit."""
    if backend != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    wal = store.db.url.split("///", 1)[1] + "-wal"
    spec = dump_spec(trivial())
    sizes = []
    for number in range(1, CHECKPOINT_EVERY * 8 + 1):
        job_id = await queue(store, spec)
        if number % 7 == 0:  # readers come and go meanwhile, as API requests do
            assert await store.job_row(job_id) is not None
        if number % CHECKPOINT_EVERY == 0:
            sizes.append(os.path.getsize(wal))
    # Without restarts the log would hold every commit: 8 intervals' worth and growing.
    assert sizes[-1] <= 3 * sizes[0], sizes


# -- heartbeats and the reaper ---------------------------------------------------------------


async def runner_beat(store, name: str) -> int | None:
    async with store.read() as conn:
        query = select(runners.c.heartbeat).where(runners.c.name == name)
        return (await conn.execute(query)).scalar_one_or_none()


async def test_a_runner_beats_its_own_row_and_leaves_its_jobs_rows_alone(store, settings):
    async with started_runner(store, settings) as runner:
        job_id = await queue(store, script("sleep 0.8"))
        await wait_status(store, job_id, "running")
        claimed = await column(store, job_id, "heartbeat")
        first = await runner_beat(store, runner.name)
        await asyncio.sleep(0.4)
        assert await runner_beat(store, runner.name) > first
        assert await column(store, job_id, "heartbeat") == claimed, "no write per job"
        await wait_status(store, job_id)
    assert await runner_beat(store, runner.name) is None, "a stopped runner leaves no row"


async def insert_running(store, runner: str, claimed: int, count: int = 1) -> list[str]:
    ids = [new_id() for _ in range(count)]
    await insert_jobs(
        store,
        [
            {
                "id": job_id,
                "owner_id": "1",
                "owner_type": 1,
                "timestamp": claimed,
                "status": "running",
                "started": claimed,
                "heartbeat": claimed,
                "runner": runner,
                "spec": '{"type":"exec","argv":["true"],"timeout":5}',
            }
            for job_id in ids
        ],
    )
    return ids


async def insert_runner(store, name: str, heartbeat: int) -> None:
    async with store.write() as conn:
        await conn.execute(
            insert(runners).values(
                name=name, incarnation="x", host="h", pid=1, started=0, heartbeat=heartbeat
            )
        )


async def test_the_reaper_judges_runners_by_their_own_heartbeat(store, settings):
    now = now_ms()
    # A runner that answers keeps a job claimed long ago; a silent one loses a fresh one.
    await insert_runner(store, "alive/1", now + 60_000)
    await insert_runner(store, "silent/1", now - 60_000)
    (kept,) = await insert_running(store, "alive/1", now - 600_000)
    (dropped,) = await insert_running(store, "silent/1", now)
    async with started_runner(store, settings) as runner:
        document = await wait_status(store, dropped, timeout=10)
        assert await column(store, kept, "status") == "running"
    assert document["execution"]["status"] == "lost"
    assert document["execution"]["error"] == RUNNER_LOST
    (entry,) = document["execution"]["history"]
    assert entry["event"] == "lost" and entry["by"] == runner.name
    assert "silent/1 stopped answering" in entry["detail"]
    assert document["execution"]["finished"] == entry["at"] >= now


async def test_a_runner_started_again_under_its_old_name_marks_its_jobs_lost(store, settings):
    name = "reused/42"
    (earlier,) = await insert_running(store, name, now_ms())
    await insert_runner(store, name, now_ms())  # fresh: only the name tells
    async with started_runner(store, settings, name=name):
        document = await wait_status(store, earlier, timeout=5)
    assert document["execution"]["status"] == "lost"
    assert "started again" in document["execution"]["history"][0]["detail"]


async def test_the_reaper_turns_silent_running_jobs_lost(store, settings):
    stale, fresh = new_id(), new_id()
    now = now_ms()
    rows = [
        {"id": stale, "heartbeat": now - 10_000},
        {"id": fresh, "heartbeat": now + 60_000},
    ]
    await insert_jobs(
        store,
        [
            {
                **row,
                "owner_id": "1",
                "owner_type": 1,
                "timestamp": now - 20_000,
                "status": "running",
                "started": now - 20_000,
                "runner": "elsewhere/1",
                "spec": '{"type":"exec","argv":["true"],"timeout":5}',
            }
            for row in rows
        ],
    )
    async with started_runner(store, settings):
        document = await wait_status(store, stale, timeout=5)
        assert await column(store, fresh, "status") == "running"
    assert document["execution"]["status"] == "lost"
    assert document["execution"]["error"] == RUNNER_LOST
    assert document["execution"]["finished"] >= now


async def test_a_runner_never_reaps_the_jobs_it_is_running(store, database_url):
    # Its heartbeat is slower than the limit, as if its process had stalled: only another
    # runner may judge it lost; its own reaper knows better.
    settings = runner_settings(database_url, heartbeat_seconds=30, lost_after_seconds=0.3)
    async with started_runner(store, settings):
        job_id = await queue(store, script("sleep 1.2"))
        document = await wait_status(store, job_id, timeout=10)
    assert document["execution"]["status"] == "succeeded"


async def test_a_job_claimed_for_a_runner_that_never_got_the_answer_is_lost(store, database_url):
    # The claim commits but its answer never reaches the runner (a connection cut after the
    # commit): the job is the runner's in the database and runs nowhere. Here the test
    # takes the answer, with a tag the runner does not claim itself.
    settings = runner_settings(database_url, lost_after_seconds=0.3)
    async with started_runner(store, settings, tags=()) as runner:
        job_id = await queue(store, script("true"), runner_tag="elsewhere")
        (claimed,) = await claim_many(store, runner.name, ("elsewhere",), 1)
        assert claimed.id == job_id and job_id not in runner.running
        document = await wait_status(store, job_id, timeout=10)
        assert not runner.running, "it was never run"
    assert document["execution"]["status"] == "lost"
    assert document["execution"]["error"] == RUNNER_LOST
    (entry,) = document["execution"]["history"]
    assert entry["event"] == "lost" and entry["by"] == runner.name
    assert "never started it: the answer to its claim was lost" in entry["detail"]


async def _wait_lost_never_run(store, job_id: str, runner: Runner) -> dict:
    document = await wait_status(store, job_id, timeout=10)
    assert document["execution"]["status"] == "lost"
    (entry,) = document["execution"]["history"]
    assert entry["event"] == "lost" and entry["by"] == runner.name
    assert "never started it: the answer to its claim was lost" in entry["detail"]
    return document


async def test_a_claim_answered_after_the_limit_is_not_started_and_is_marked_lost(
    store, database_url, monkeypatch, tmp_path
):
    # The claim commits, and its answer reaches the runner only after the limit: its own
    # reaper may have marked the job lost meanwhile (a claim it did not run). Starting it
    # then would run a job whose history says it never ran.
    real_claim = runner_module.claim_many
    answered = asyncio.Event()

    async def answered_late(*args, **kwargs):
        claimed = await real_claim(*args, **kwargs)
        if claimed:
            await asyncio.sleep(0.8)
            answered.set()
        return claimed

    monkeypatch.setattr(runner_module, "claim_many", answered_late)
    ran = tmp_path / "ran"
    settings = runner_settings(database_url, lost_after_seconds=0.3)
    async with started_runner(store, settings) as runner:
        job_id = await queue(store, script(f"touch {ran}"))
        await _wait_lost_never_run(store, job_id, runner)
        await asyncio.wait_for(answered.wait(), 10)  # the late answer has come
        await asyncio.sleep(0)  # and the claim loop has handled it
        assert job_id not in runner.running
    assert not ran.exists(), "the job was started after it could have been marked lost"


async def test_on_postgresql_a_claim_answered_late_with_the_ends_is_not_started(
    store, backend, database_url, monkeypatch, tmp_path
):
    if backend != "postgresql":
        pytest.skip("only PostgreSQL claims in the statement that stores the ends")
    real = finisher_module.finish_and_claim
    late: list[str] = []

    async def answered_late(*args, **kwargs):
        finished, claimed = await real(*args, **kwargs)
        if claimed:
            late.extend(job.id for job in claimed)
            await asyncio.sleep(0.8)
        return finished, claimed

    monkeypatch.setattr(finisher_module, "finish_and_claim", answered_late)
    ran = tmp_path / "ran"
    settings = runner_settings(database_url, lost_after_seconds=0.3)
    async with started_runner(store, settings, concurrency=1) as runner:
        first = await queue(store, script("sleep 0.3"))
        second = await queue(store, script(f"touch {ran}"))
        await wait_status(store, first, "running")
        assert (await wait_status(store, first, timeout=10))["execution"]["status"] == "succeeded"
        await _wait_lost_never_run(store, second, runner)
    assert late == [second]
    assert not ran.exists(), "the job was started after it could have been marked lost"


async def test_a_fresh_claim_the_runner_has_not_started_yet_is_left_alone(store, database_url):
    # A claim younger than the limit may still be on its way to the runner.
    settings = runner_settings(database_url, lost_after_seconds=30)
    async with started_runner(store, settings, tags=()) as runner:
        job_id = await queue(store, script("true"), runner_tag="elsewhere")
        await claim_many(store, runner.name, ("elsewhere",), 1)
        assert await reap_once(store, 30, runner.name, lambda: runner.running) == []
        assert await column(store, job_id, "status") == "running"


async def test_a_job_taken_away_from_its_runner_is_stopped_and_stays_lost(store, settings):
    async with started_runner(store, settings) as runner:
        job_id = await queue(store, script("echo $$; exec sleep 300"))
        await wait_status(store, job_id, "running")
        while not (pid := (await stored_text(store, job_id)).strip()):
            await asyncio.sleep(0.02)
        await set_columns(store, job_id, status="lost", error=RUNNER_LOST)
        deadline = time.monotonic() + 5
        while runner.running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not runner.running
    assert not psutil.pid_exists(int(pid)) or psutil.Process(int(pid)).status() == "zombie"
    document = await wait_status(store, job_id)
    assert document["execution"]["status"] == "lost", "its processes were ended: lost"
    (entry,) = document["execution"]["history"]
    assert entry["event"] == "stopped" and entry["by"] == runner.name
    assert document["description"]["stdout"] == f"{pid}\n", "what it wrote is kept"


async def test_a_result_that_arrives_after_the_job_was_marked_lost_is_recorded(store):
    job_id = await queue(store, trivial())
    await claim(store, "r/1")
    judged = LostCandidate(job_id, "r/1", None, "runner r/1 is not running (not registered)")
    assert await mark_lost(store, [judged], "reaper/7") == [job_id]
    chunk = Chunk(STDOUT, 0, 0, b"done\n")
    outcome = Outcome(JobStatus.SUCCEEDED, {"stdout": "done\n", "exitCode": 0}, chunks=[chunk])
    assert not await finish(store, "r/2", job_id, outcome), "only its own runner's result counts"
    assert await finish(store, "r/1", job_id, outcome)
    document = await wait_status(store, job_id)
    assert document["execution"]["status"] == "succeeded"
    assert document["execution"]["error"] is None
    assert document["description"] == {"stdout": "done\n", "exitCode": 0}
    assert await stored_text(store, job_id) == "done\n"
    lost, finished = document["execution"]["history"]
    assert lost["event"] == "lost" and lost["by"] == "reaper/7"
    assert lost["detail"] == judged.reason
    assert finished["event"] == "finished" and finished["by"] == "r/1"
    assert "(succeeded)" in finished["detail"]
    assert finished["at"] == document["execution"]["finished"] >= lost["at"]
    again = Outcome(JobStatus.FAILED, {}, "again")
    assert not await finish(store, "r/1", job_id, again), "a recorded outcome is final"


async def test_a_runner_that_answered_since_it_was_judged_keeps_its_jobs(store):
    job_id = await queue(store, trivial())
    await claim(store, "r/1")
    await insert_runner(store, "r/1", now_ms())
    judged = LostCandidate(job_id, "r/1", now_ms() - 60_000, "silent")
    assert await mark_lost(store, [judged], "reaper/7") == []
    assert await column(store, job_id, "status") == "running"


async def test_finish_only_records_a_job_still_running_for_that_runner(store):
    job_id = await queue(store, trivial())
    await claim(store, "r/1")
    done = Outcome(JobStatus.SUCCEEDED, {})
    assert not await finish(store, "r/2", job_id, done)
    assert await finish(store, "r/1", job_id, done)
    again = Outcome(JobStatus.FAILED, {}, "again")
    assert not await finish(store, "r/1", job_id, again)
    assert await column(store, job_id, "status") == "succeeded"


# -- cancelling -----------------------------------------------------------------------------


async def test_a_queued_job_is_cancelled_at_once_and_never_runs(store, settings):
    job_id = await queue(store, trivial())
    assert await cancel(store, job_id) is JobStatus.CANCELLED
    async with started_runner(store, settings):
        await asyncio.sleep(0.3)
    document = await wait_status(store, job_id)
    assert document["execution"]["status"] == "cancelled"
    assert document["execution"]["runner"] is None
    assert document["execution"]["finished"] is not None


async def test_a_running_job_is_signalled_and_ends_cancelled(store, settings):
    async with started_runner(store, settings):
        job_id = await queue(store, script("echo started; sleep 300"))
        await wait_status(store, job_id, "running")
        while not await stored_text(store, job_id):
            await asyncio.sleep(0.02)
        started = time.monotonic()
        assert await cancel(store, job_id) is JobStatus.RUNNING
        document = await wait_status(store, job_id, timeout=5)
    assert time.monotonic() - started < 2
    assert document["execution"]["status"] == "cancelled"
    assert document["execution"]["error"] == "cancelled"
    assert document["description"] == {"stdout": "started\n", "exitCode": 143, "stderr": ""}


async def test_a_cancel_from_another_process_reaches_the_runner(store, database_url):
    async with started_runner(store, runner_settings(database_url)):
        job_id = await queue(store, script("sleep 300"))
        await wait_status(store, job_id, "running")
        # Another process: no shared in-process signal, only the database (NOTIFY on
        # PostgreSQL, the row's cancel mark at the next heartbeat on SQLite).
        async with opened_store(database_url) as elsewhere:
            assert await cancel(elsewhere, job_id) is JobStatus.RUNNING
            document = await wait_status(elsewhere, job_id, timeout=5)
    assert document["execution"]["status"] == "cancelled"


async def test_a_finished_job_cannot_be_cancelled(store, settings):
    async with started_runner(store, settings):
        job_id = await queue(store, trivial())
        await wait_status(store, job_id)
    assert await cancel(store, job_id) is None
    assert await cancel(store, new_id()) is None
    assert await column(store, job_id, "status") == "succeeded"


# -- stopping -------------------------------------------------------------------------------


async def test_a_graceful_stop_lets_short_jobs_finish_and_cancels_the_rest(store, database_url):
    runner = Runner(store, runner_settings(database_url, stop_grace_seconds=1.0))
    await runner.start()
    short = await queue(store, script("sleep 0.4; echo done"))
    long = await queue(store, script("echo begun; sleep 300"))
    await wait_status(store, short, "running")
    await wait_status(store, long, "running")
    started = time.monotonic()
    await runner.stop()
    assert time.monotonic() - started < 4
    late = await queue(store, trivial())
    await asyncio.sleep(0.2)
    short_doc = await wait_status(store, short, timeout=0.1)
    long_doc = await wait_status(store, long, timeout=0.1)
    assert short_doc["execution"]["status"] == "succeeded"
    assert short_doc["description"]["stdout"] == "done\n"
    assert long_doc["execution"]["status"] == "cancelled"
    assert long_doc["execution"]["error"] == "runner stopped"
    assert long_doc["description"]["stdout"] == "begun\n"
    assert await column(store, late, "status") == "queued", "a stopped runner claims nothing"
    async with store.read() as conn:
        running = await conn.execute(select(jobs.c.id).where(jobs.c.status == "running"))
        assert running.all() == []


# -- output ---------------------------------------------------------------------------------


async def test_output_is_stored_while_the_job_runs(store, settings):
    async with started_runner(store, settings):
        job_id = await queue(store, script("echo first; sleep 1; echo second"))
        deadline = time.monotonic() + 5
        while await stored_text(store, job_id) != "first\n":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await column(store, job_id, "status") == "running"
        await wait_status(store, job_id)
    assert await stored_text(store, job_id) == "first\nsecond\n"


async def test_50_mib_of_output_is_capped_in_storage_and_memory(store, settings):
    me = psutil.Process()
    cap = settings.output_cap_bytes
    async with started_runner(store, settings):
        warm = await queue(store, script("head -c 2097152 /dev/zero | tr '\\0' w"))
        await wait_status(store, warm, timeout=30)
        before = me.memory_info().rss
        job_id = await queue(store, script("head -c 52428800 /dev/zero | tr '\\0' a; echo END"))
        peak = before
        while (await column(store, job_id, "status")) in ("queued", "running"):
            peak = max(peak, me.memory_info().rss)
            await asyncio.sleep(0.01)
        document = await wait_status(store, job_id, timeout=60)
    assert document["execution"]["status"] == "succeeded"
    assert document["execution"]["truncated"] is True
    stdout = document["description"]["stdout"]
    assert len(stdout) <= cap and stdout.endswith("aEND\n")
    stored = await read_output(store, job_id, STDOUT, 0, 1 << 30)
    assert len(stored) <= 2 * cap
    assert stored.endswith(b"aEND\n") and b"bytes left out]" in stored
    assert peak - before < 32 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"


async def test_output_that_is_not_utf8_never_breaks_the_job_document(store, settings):
    async with started_runner(store, settings):
        job_id = await queue(store, script(r"printf '\377\376\375 ok'; printf 'x\300' >&2"))
        document = await wait_status(store, job_id)
    assert document["description"]["stdout"] == "\ufffd\ufffd\ufffd ok"
    assert document["description"]["stderr"] == "x\ufffd"
    raw = await column(store, job_id, "description")
    assert orjson.loads(raw) == document["description"]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (None, "the job has no spec: nothing to run"),
        ('{"type": "teleport"}', "the job's spec is not valid"),
    ],
)
async def test_a_job_without_a_usable_spec_fails_with_the_reason(store, settings, spec, error):
    async with started_runner(store, settings):
        job_id = await queue(store, spec)
        document = await wait_status(store, job_id)
    assert document["execution"]["status"] == "failed"
    assert document["execution"]["error"].startswith(error)


async def test_a_silent_runner_alive_on_this_host_stops_its_jobs_itself(store, database_url):
    # Its heartbeat is slower than another reaper's limit (it cannot write, or it stalled):
    # that reaper marks its job lost but leaves its processes to it, since its process
    # lives on this host; the runner then stops the job itself and keeps its output.
    settings = runner_settings(database_url, heartbeat_seconds=1.0)
    async with started_runner(store, settings) as runner:
        job_id = await queue(store, script("echo begun; sleep 60"))
        await wait_status(store, job_id, "running")
        while not await stored_text(store, job_id):
            await asyncio.sleep(0.02)
        lost: list[str] = []
        while not lost:
            lost = await reap_once(store, 0.3, by="reaper/9")
            await asyncio.sleep(0.05)
        assert lost == [job_id]
        document = await wait_status(store, job_id, "lost")
        assert [e["event"] for e in document["execution"]["history"]] == ["lost"]
        deadline = time.monotonic() + 10
        while len(document["execution"]["history"]) < 2:
            assert time.monotonic() < deadline, document
            await asyncio.sleep(0.05)
            document = await wait_status(store, job_id)
    lost_entry, stopped = document["execution"]["history"]
    assert lost_entry["by"] == "reaper/9"
    assert stopped["event"] == "stopped" and stopped["by"] == runner.name
    assert document["description"]["stdout"] == "begun\n"
    assert document["execution"]["status"] == "lost"
