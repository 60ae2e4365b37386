"""The ASGI application: routes under /node/api, error mapping, lifespan of the store."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .. import __version__
from ..config import Settings
from ..execution.reaper import reap_forever
from ..execution.runner import Runner
from ..store.db import unavailable
from ..store.listen import listen
from . import errors
from .context import Context
from .limits import BodyLimit
from .routes import control, entities, execute, jobs, meta, users
from .routes import operations as operation_routes
from .threads import yield_io_threads
from .urls import CheckedUrl

PREFIX = "/node/api"
log = structlog.get_logger("opsjobs.api")

# How often a process checks whether another process changed users, rights or the object
# graph. Changes made by this process apply at once.
DIRECTORY_POLL_SECONDS = 0.5


async def _follow_directory(ctx: Context) -> None:
    changed = ctx.store.directory_changed
    while True:
        # Woken at once by a NOTIFY on PostgreSQL; the poll covers SQLite and lost wake-ups.
        # asyncio.timeout, never wait_for: on Python 3.11, a cancel that lands while the
        # event is being set is swallowed by wait_for, and this loop would never end (the
        # app's shutdown then waited for it forever: issue 7, point 8).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DIRECTORY_POLL_SECONDS):
                await changed.wait()
        changed.clear()
        try:
            await ctx.store.refresh_directory()
        except Exception as exc:  # a database hiccup must not end the loop
            if unavailable(exc):  # an outage: one line each time, not a traceback
                log.warning("directory refresh failed: database unavailable", error=repr(exc))
            else:
                log.warning("directory refresh failed", exc_info=True)


# The HTTP server starts its I/O threads after the app's startup, and may start more later:
# looked for soon after start-up, then every half minute.
IO_THREADS_CHECK_SECONDS = (0.1, 0.5, 2.0)
IO_THREADS_RECHECK_SECONDS = 30.0


async def _keep_io_threads_yielding() -> None:
    """See api/threads.py."""
    for pause in itertools.chain(
        IO_THREADS_CHECK_SECONDS, itertools.repeat(IO_THREADS_RECHECK_SECONDS)
    ):
        await asyncio.sleep(pause)
        yield_io_threads()


_ERROR = {
    "description": "Bad Request",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorModel"}}},
}


def _as_served(schema: dict) -> dict:
    """The generated document, corrected to what the API really answers.

    - A validation error is a 400 (see errors.py), never FastAPI's 422; and every route may
      answer 400, to a URL that api/urls.py refuses.
    - A success documented as JSON with the empty schema ``{}`` is FastAPI's default for a
      route that declares no model: such routes answer no body (or another media type, like
      the event stream), so that JSON entry is dropped rather than promising any JSON.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", _ERROR)
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("2") and content.get("application/json") == {"schema": {}}:
                    del content["application/json"]
                    if not content:
                        del response["content"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(unused, None)
    return schema


def create_app(settings: Settings | None = None, context: Context | None = None) -> FastAPI:
    ctx = context or Context.create(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await ctx.store.open()
        io_threads = asyncio.create_task(_keep_io_threads_yielding())
        reaper = None
        if ctx.settings.embedded_runner:
            ctx.runner = Runner(ctx.store, ctx.settings)
            await ctx.runner.start()  # it reaps too
        else:  # lost jobs are found even when no runner is left anywhere
            reaper = asyncio.create_task(reap_forever(ctx.store, ctx.settings.lost_after_seconds))
        follower = asyncio.create_task(_follow_directory(ctx))
        # An embedded runner LISTENs on PostgreSQL already; without one, listen here.
        listener = (
            asyncio.create_task(listen(ctx.store))
            if ctx.runner is None and not ctx.store.is_sqlite
            else None
        )
        try:
            yield
        finally:
            if ctx.runner is not None:  # graceful: running jobs get their grace period
                await ctx.runner.stop()
                ctx.runner = None
            for task in (follower, listener, io_threads, reaper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await ctx.store.close()

    app = FastAPI(
        title="opsjobs",
        version=__version__,
        description="Runs operations against monitored objects and keeps every run as a job. "
        "Compatible with the jobs part of the SAYMON REST API.",
        lifespan=lifespan,
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        openapi_url=f"{PREFIX}/openapi.json",
    )
    app.state.context = ctx
    errors.install(app)
    # Plain Starlette routes for the hot paths, matched before FastAPI's (see jobs.hot_routes).
    app.router.routes.extend(jobs.hot_routes(ctx, PREFIX))
    app.router.routes.extend(execute.hot_routes(ctx, PREFIX))
    app.include_router(meta.router(), prefix=PREFIX)
    app.include_router(jobs.router(ctx), prefix=PREFIX)
    app.include_router(control.router(ctx), prefix=PREFIX)
    app.include_router(users.router(ctx), prefix=PREFIX)
    app.include_router(entities.router(ctx), prefix=PREFIX)
    app.include_router(operation_routes.router(ctx), prefix=PREFIX)
    app.include_router(execute.router(ctx), prefix=PREFIX)
    app.add_middleware(
        BodyLimit,
        max_bytes=ctx.settings.max_body_bytes,
        timeout_seconds=ctx.settings.body_timeout_seconds,
    )
    app.add_middleware(CheckedUrl)  # outermost: a URL no route could use goes no further

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema["components"]["securitySchemes"] = {
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sid"},
                "token": {"type": "apiKey", "in": "query", "name": "auth-token"},
            }
            schema["security"] = [{"basic": []}, {"session": []}, {"token": []}]
            app.openapi_schema = _as_served(schema)
        return app.openapi_schema

    app.openapi = openapi
    return app
