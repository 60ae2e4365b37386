"""The ASGI application: routes under /node/api, error mapping, lifespan of the store.

What runs beside the API in the same process (the embedded runner, or the reaper) is not
started here: whoever composes the server passes it in as ``background`` (see compose.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..config import Settings
from ..tasks import cancel_and_wait
from . import directory_follower, errors, openapi
from .admission import WriteAdmission
from .audited import AuditTrail
from .console_page import console_routes
from .context import Context
from .docs_page import docs_routes
from .front_door import FrontDoor
from .health import monitoring_routes
from .limits import BodyLimit
from .metrics import http_metrics
from .observe import RequestObserver
from .routes import (
    alerts,
    audit,
    batches,
    classes,
    control,
    entities,
    execute,
    groups,
    jobs,
    meta,
    not_served,
    operations,
    properties,
    schedules,
    scripts,
    sessions,
    states,
    tags,
    triggers,
    users,
)
from .threads import keep_io_threads_yielding
from .urls import CheckedUrl

PREFIX = "/node/api"

# One module a resource, in the order their routes are matched (sessions before users: the
# session's path would otherwise be taken for a user's) and documented.
ROUTES = (
    meta,
    jobs,
    control,
    sessions,
    users,
    groups,
    entities,
    properties,
    states,
    triggers,
    tags,
    operations,
    classes,
    scripts,
    schedules,
    batches,
    execute,
    audit,
    alerts,
    not_served,
)

# Something that runs beside the API while the app is up: entered once the store is open,
# left (in reverse order) before it closes.
Background = Callable[[Context], AbstractAsyncContextManager[object]]


def _lifespan(ctx: Context, background: Sequence[Background]):
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ctx.store.open()
        ctx.audit.start()
        tasks = [
            asyncio.create_task(keep_io_threads_yielding()),
            asyncio.create_task(directory_follower.follow_directory(ctx.store)),
        ]
        try:
            async with contextlib.AsyncExitStack() as stack:
                for part in background:
                    await stack.enter_async_context(part(ctx))
                yield
        finally:
            await cancel_and_wait(tasks)
            await ctx.audit.stop()  # what is still held is written before the store closes
            await ctx.store.close()

    return lifespan


class App(FastAPI):
    """FastAPI, with the front door (front_door.py) ahead of its middleware and router."""

    door: FrontDoor | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.door is not None and scope["type"] == "http":
            found = self.door.match(scope)
            if found is not None:
                scope["app"] = self
                await self.door.serve(found, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    context: Context | None = None,
    background: Sequence[Background] = (),
) -> FastAPI:
    ctx = context or Context.create(settings or Settings.from_env())
    app = App(
        title="opsjobs",
        version=__version__,
        description="Runs operations against monitored objects and keeps every run as a job. "
        "Compatible with the jobs part of the SAYMON REST API.",
        lifespan=_lifespan(ctx, background),
        # The page is served by docs_page.py, with Swagger UI from the package, not a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{PREFIX}/openapi.json",
    )
    app.state.context = ctx
    errors.install(app)
    # Plain Starlette routes for the hot paths, matched before FastAPI's (see fast.py).
    app.router.routes.extend(jobs.hot.routes(PREFIX))
    app.router.routes.extend(execute.hot.routes(PREFIX))
    app.router.routes.extend(monitoring_routes(ctx))  # /metrics, /healthz, /readyz
    for module in ROUTES:
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(docs_routes(PREFIX))
    app.include_router(console_routes())  # the operators' page, matched after every API route
    # Innermost: sees the body BodyLimit let through, and the answer the route gave.
    app.add_middleware(AuditTrail, routes=lambda: app.routes)
    # Changing requests wait for their turn once their body is in (a client that trickles
    # one holds no turn), before anything is done for them.
    app.add_middleware(WriteAdmission, turns=ctx.write_turns)
    app.add_middleware(
        BodyLimit,
        max_bytes=ctx.settings.max_body_bytes,
        timeout_seconds=ctx.settings.body_timeout_seconds,
    )
    app.add_middleware(CheckedUrl)  # a URL no route could use goes no further
    # Outermost: every answer gets its request ID, and counts (a turn's wait included).
    metrics = http_metrics()
    app.add_middleware(RequestObserver, metrics=metrics, routes=lambda: app.routes)
    openapi.install(app)
    if ctx.settings.front_door:
        app.door = FrontDoor(
            jobs.hot.door_entries(PREFIX) + execute.hot.door_entries(PREFIX),
            metrics,
            app.exception_handlers,
            turns=ctx.write_turns,  # reads at the door pace the changes too
            max_body_bytes=ctx.settings.max_body_bytes,
            body_timeout_seconds=ctx.settings.body_timeout_seconds,
            routes=lambda: app.routes,  # the audit trail's table, as the app's own
        )
    return app
