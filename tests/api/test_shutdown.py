"""The app shuts down at once when no job runs.

The directory follower waited with ``asyncio.wait_for``, which on Python 3.11 swallows a
cancel that lands while the awaited event is being set: on PostgreSQL a NOTIFY from the
test's last write could set it just as shutdown cancelled the follower, which then ran on
forever and the app's shutdown never ended.
"""

from __future__ import annotations

import asyncio

from conftest import lifespan, settings_for_test
from opsjobs.api.context import Context
from opsjobs.api.directory_follower import follow_directory
from opsjobs.compose import server_app
from opsjobs.store import entities


async def test_the_directory_follower_ends_when_cancelled_as_the_directory_changes(
    database_url,
):
    ctx = Context.create(settings_for_test(database_url))
    store = ctx.store
    await store.open()
    try:
        follower = asyncio.create_task(follow_directory(ctx.store))
        for _ in range(3):  # the follower is waiting for a change
            await asyncio.sleep(0)
        # The change and the cancel in the same turn of the loop: the race made certain.
        store.directory_changed.set()
        follower.cancel()
        done, _ = await asyncio.wait({follower}, timeout=30)
        assert follower in done, "the follower swallowed its cancel and kept running"
        assert follower.cancelled()
    finally:
        await store.close()


async def test_shutdown_right_after_a_write_leaves_no_task_behind(database_url, backend):
    """The write notifies (PostgreSQL) and wakes the follower while shutdown begins."""
    before = asyncio.all_tasks()
    for _ in range(5):
        ctx = Context.create(settings_for_test(database_url))
        app = server_app(context=ctx)
        async with lifespan(app):
            created = await entities.create_object(ctx.store, name="x", parent_ids=["1"])
            await entities.delete_object(ctx.store, created["id"])
        left = {task for task in asyncio.all_tasks() - before if not task.done()}
        assert not left, f"tasks still running after shutdown: {left}"
