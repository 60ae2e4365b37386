"""store/retention.py: the ID range a cutoff bounds, deletes that refuse queued and running
jobs even when asked, and one purger at a time on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from helpers.execution import opened_store
from helpers.retention import DAY_MS, make_job, store_jobs
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.store import retention
from opsjobs.store.schema import jobs


def test_the_id_range_holds_every_job_made_before_the_cutoff_and_no_later_second() -> None:
    cutoff = 1_795_963_545_765
    second = cutoff // 1000
    assert new_id(second) < retention.id_bound(cutoff)  # the cutoff's own second is in
    assert new_id(second + 1) > retention.id_bound(cutoff)
    assert retention.id_floor(cutoff) < new_id(second)
    assert retention.id_floor(cutoff) > new_id(second - 1)
    assert retention.id_bound(-5) == "0" * 24  # before 1970: no ID is below it
    assert retention.id_bound(2**62) == "ffffffff" + "0" * 16


async def test_deletes_never_take_a_queued_or_running_job(backend, database_url) -> None:
    old = now_ms() - 40 * DAY_MS
    history = [make_job("a" * 24, "b" * 24, old + i, s) for i, s in enumerate(("queued", "running", "failed"))]  # fmt: skip
    async with opened_store(database_url) as store:
        await store_jobs(store, history)
        page = await retention.read_page(store, after="", cutoff_ms=now_ms(), keep=0, size=10)
        assert page.purge == [history[2].id] and page.active == 2 and page.kept == 0
        done = await retention.delete_jobs(store, [j.id for j in history])
        output = await retention.purge_output(store, [j.id for j in history], "x", None)
        async with store.read() as conn:
            left = {r[0] for r in await conn.execute(select(jobs.c.id))}
    assert done == retention.Deleted(1, 2)
    assert output == retention.Deleted(0, 0)
    assert left == {history[0].id, history[1].id}


async def test_one_purger_at_a_time(backend, database_url) -> None:
    async with opened_store(database_url) as first, opened_store(database_url) as second:
        async with retention.exclusive(first) as mine:
            assert mine
            async with retention.exclusive(second) as theirs:
                # A file lock on SQLite, an advisory lock on PostgreSQL.
                assert theirs is False
        async with retention.exclusive(second) as theirs:
            assert theirs  # released when the first run ended
