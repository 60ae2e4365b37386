"""GET /healthz and GET /readyz, outside /node/api like /metrics, open to every client.

/healthz says the process answers, and touches nothing else (no database): a load balancer
or systemd's watchdog restarts a process that stops answering it. /readyz says whether the
process can do its work now: the database answers within a short time, its schema is at
the migration this opsjobs expects, and where the process runs an embedded runner, that
runner's heartbeat is fresh. Unready is 503 with a JSON body naming what is not ready; it
comes back by itself when the cause goes (no restart).
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.clock import now_ms
from ..store import monitoring
from .context import Context
from .metrics import metrics_endpoint
from .responses import json_response

log = structlog.get_logger("opsjobs.api")

# Readiness is probed every few seconds: a database slower than this counts as down.
READY_SECONDS = 2.0
OK = "ok"


async def healthz(_request: Request) -> Response:
    return json_response({"status": OK})


async def _database(ctx: Context) -> dict[str, str]:
    try:
        async with asyncio.timeout(READY_SECONDS):
            current = await monitoring.schema_is_current(ctx.store)
    except TimeoutError:
        return {"database": f"no answer within {READY_SECONDS:g} s"}
    except Exception as exc:  # refused, reset, a failed login: all "unreachable" here
        log.debug("readiness: the database did not answer", error=type(exc).__name__)
        return {"database": "unreachable"}
    schema = OK if current else "not at this version's migration: run `opsjobs migrate`"
    return {"database": OK, "schema": schema}


async def _runner(ctx: Context, name: str) -> str:
    try:
        async with asyncio.timeout(READY_SECONDS):
            heartbeat = await monitoring.runner_heartbeat(ctx.store, name)
    except Exception:  # the database check says why
        return "unknown: the database did not answer"
    if heartbeat is None:
        return "not registered"
    age = (now_ms() - heartbeat) / 1000
    if age > ctx.settings.lost_after_seconds:
        return f"heartbeat {age:.0f} s old"
    return OK


def readyz_endpoint(ctx: Context):
    async def readyz(_request: Request) -> Response:
        checks = await _database(ctx)
        if ctx.runner_name is not None:
            checks["runner"] = await _runner(ctx, ctx.runner_name)
        unready = sorted(name for name, state in checks.items() if state != OK)
        document = {"status": "unready" if unready else "ready", "checks": checks}
        if unready:
            document["unready"] = unready
        return json_response(document, status_code=503 if unready else 200)

    return readyz


def monitoring_routes(ctx: Context) -> list[Route]:
    """/metrics, /healthz and /readyz: plain Starlette routes, outside the API's prefix and
    its OpenAPI document."""
    return [
        Route("/metrics", metrics_endpoint(ctx), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz_endpoint(ctx), methods=["GET"]),
    ]
