"""Composing the server: the API app together with what runs beside it in each process.

This module sits above both ``api`` and ``execution`` so that neither imports the other:
``opsjobs serve`` (through granian, which calls :func:`create` in each worker) and the tests
build the same app here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from .api.app import create_app
from .api.context import Context
from .config import Settings
from .execution.dispatcher import Dispatcher
from .execution.reaper import reap_forever
from .execution.runner import Runner
from .execution.sender import Sender
from .logs import configure
from .service.purger import purge_forever
from .service.retention import Policy
from .store.listen import listen
from .tasks import cancel_and_wait

# What granian is pointed at (api/server.py): a factory, called in each worker process.
FACTORY = "opsjobs.compose:create"


@contextlib.asynccontextmanager
async def running_jobs(ctx: Context) -> AsyncIterator[None]:
    """The embedded runner while the app is up; it reaps, and LISTENs on PostgreSQL.

    Without one (``Settings.embedded_runner`` off), lost jobs are still found, even when no
    runner is left anywhere, and on PostgreSQL the wake-ups of other processes (a changed
    directory, a cancel) are still heard.
    """
    if ctx.settings.embedded_runner:
        runner = Runner(ctx.store, ctx.settings)
        await runner.start()
        ctx.runner_name = runner.name
        try:
            yield
        finally:  # graceful: running jobs get their grace period
            ctx.runner_name = None
            await runner.stop()
        return
    tasks = [asyncio.create_task(reap_forever(ctx.store, ctx.settings.lost_after_seconds))]
    if not ctx.store.is_sqlite:
        tasks.append(asyncio.create_task(listen(ctx.store, runner=False)))
    try:
        yield
    finally:
        await cancel_and_wait(tasks)


@contextlib.asynccontextmanager
async def dispatching_triggers(ctx: Context) -> AsyncIterator[None]:
    """The trigger dispatcher, and the sender of the messages it makes, while the app is up
    (unless ``trigger_dispatcher`` is off)."""
    if not ctx.settings.trigger_dispatcher:
        yield
        return
    sender = Sender(ctx.store, ctx.settings)
    dispatcher = Dispatcher(ctx.store, ctx.settings, on_messages=sender.wake)
    tasks = [
        asyncio.create_task(dispatcher.run_forever()),
        asyncio.create_task(sender.run_forever()),
    ]
    try:
        yield
    finally:
        await cancel_and_wait(tasks)


@contextlib.asynccontextmanager
async def purging(ctx: Context) -> AsyncIterator[None]:
    """The purger while the app is up, when a retention limit is set (service/purger.py:
    one process at a time does the work)."""
    policy = Policy.from_settings(ctx.settings)
    if not policy.enabled:
        yield
        return
    task = asyncio.create_task(
        purge_forever(ctx.store, policy, ctx.settings.purge_interval_seconds)
    )
    try:
        yield
    finally:  # a batch under way is rolled back; the next run starts it again
        await cancel_and_wait([task])


def server_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    """The app as ``opsjobs serve`` runs it: the API, and beside it the jobs it runs, the
    triggers it fires and the purge of what retention lets go."""
    ctx = context or Context.create(settings or Settings.from_env())
    return create_app(context=ctx, background=[running_jobs, dispatching_triggers, purging])


def create() -> FastAPI:
    """The ASGI factory: the server app built from the environment."""
    settings = Settings.from_env()
    configure(
        settings.log_level, settings.log_format
    )  # a worker process may be started afresh (spawn)
    return server_app(settings)
