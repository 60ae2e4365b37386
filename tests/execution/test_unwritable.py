"""A runner that cannot write keeps the result and retries until it can: the database
refuses to record finished jobs (as a full disk would: a trigger raises the error), the job
stays `running` — its runner's heartbeat keeps it from being judged lost — and once writes
work again its exit code and output are stored, also when a reaper marked it lost
meanwhile. The log says so in a few lines, without a traceback."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text, update

from helpers.execution import opened_store, queue, runner_settings, started_runner, wait_status
from opsjobs.domain.output import STDOUT
from opsjobs.domain.spec import ScriptSpec
from opsjobs.store.output import read_output
from opsjobs.store.queue import RUNNER_LOST, lost_candidates
from opsjobs.store.schema import jobs

LOST_AFTER = 1.0

REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_finish BEFORE UPDATE OF status ON jobs "
        "WHEN NEW.status NOT IN ('running', 'lost') "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_finish() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'could not extend file: No space left on device' "
        "USING ERRCODE = 'disk_full'; END $$",
        "CREATE TRIGGER refuse_finish BEFORE UPDATE ON jobs FOR EACH ROW "
        "WHEN (NEW.status NOT IN ('running', 'lost')) EXECUTE FUNCTION refuse_finish()",
    ],
}
ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_finish"],
    "postgresql": ["DROP TRIGGER refuse_finish ON jobs", "DROP FUNCTION refuse_finish()"],
}


async def run_sql(store, statements: list[str]) -> None:
    async with store.write() as conn:
        for statement in statements:
            await conn.execute(text(statement))


@pytest.mark.parametrize("marked_lost_meanwhile", [False, True], ids=["kept", "late"])
async def test_a_result_is_kept_until_the_database_takes_it(
    backend, database_url, log_since, marked_lost_meanwhile
):
    settings = runner_settings(database_url, lost_after_seconds=LOST_AFTER)
    async with opened_store(database_url) as store:
        await run_sql(store, REFUSE[backend])
        async with started_runner(store, settings) as runner:
            job_id = await queue(store, ScriptSpec("echo result; exit 3", 30))
            await wait_status(store, job_id, "running")
            # Well past the limit: the script ended long ago, its end cannot be written.
            await asyncio.sleep(LOST_AFTER * 3)
            assert await lost_candidates(store, LOST_AFTER) == [], "its runner still answers"
            document = await wait_status(store, job_id, "running", timeout=1)
            assert runner.running == {job_id}, "the result is held, the slot with it"
            if marked_lost_meanwhile:  # as a reaper cut off from this runner would
                async with store.write() as conn:
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.id == job_id)
                        .values(status="lost", error=RUNNER_LOST, history=
                                '[{"at": 1, "event": "lost", "by": "far/1", "detail": "x"}]')
                    )  # fmt: skip
            await run_sql(store, ALLOW[backend])
            document = await wait_status(store, job_id, "failed", timeout=15)
            output = await read_output(store, job_id, STDOUT, 0, 1 << 20)
    assert document["description"]["exitCode"] == 3
    assert document["description"]["stdout"] == "result\n" and output == b"result\n"
    assert document["execution"]["error"] == "exited with code 3"
    if marked_lost_meanwhile:
        lost, finished = document["execution"]["history"]
        assert lost["by"] == "far/1" and finished["event"] == "finished"
        assert finished["by"] == runner.name
    else:
        assert "history" not in document["execution"]
    said = "\n".join(log_since.lines())
    assert "recording finished jobs failed; keeping them and retrying" in said
    assert "finished jobs recorded after failures" in said
    assert said.count("recording finished jobs failed") <= 3
    assert "Traceback" not in said
