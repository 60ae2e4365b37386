"""The bare job route: ``GET /node/api/jobs/:id`` answered by an ASGI app that does only what
no job route can skip, served exactly as ``opsjobs serve`` serves the app (api/server.py's
``serve``), pinned to the server's core like every server of the run.

For each request it finds the ``Authorization`` header and looks the header up in a dict
(filled on first sight: it stands for a credential cache, and checks no password), reads the
job's row with the store's statement for it (``_JOB_SQL``: the row alone, not the directory
revision the job route reads with it) on one read-only SQLite connection mapped as the
store maps its own, makes the store's job document and answers it with orjson: the body
opsjobs answers, without its ``X-Request-ID`` header. It checks no right, keeps no request
ID, counts nothing and catches nothing up. An ID it does not find is a bare 404.

So it is the job route's floor under this server, as bench/floor.py is any route's: job /
bare is what opsjobs's own rules cost (identification, rights, read-your-writes, request ID,
request series, admission); bare / nginx without auth is about as near to nginx as a
Python route that reads the job from the database comes here. (Not a bound: its connection
loses its page cache whenever the 1M server writes, a runner's heartbeat every few seconds,
where the job route reads on its own writer's connection.)

    python -m bench.bare_route PORT DATABASE   # serves until stopped (bench.__main__ starts it)
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import orjson

from . import served
from .servers import Server

DATABASE_ENV = "OPSJOBS_BENCH_BARE_DATABASE"
PREFIX = "/node/api/jobs/"
_AUTHORIZATION = b"authorization"


def app_factory():
    """The app, in each worker, on the database ``DATABASE_ENV`` names."""
    from opsjobs.domain.jobs import JobRow, job_document
    from opsjobs.store.core import _JOB_SQL, READ_MAP_BYTES

    conn = sqlite3.connect(os.environ[DATABASE_ENV], isolation_level=None)
    conn.execute("PRAGMA query_only=ON")
    conn.execute(f"PRAGMA mmap_size={READ_MAP_BYTES}")
    callers: dict[bytes, bytes] = {}
    other = [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": b"{}"},
    ]
    missing = [
        {"type": "http.response.start", "status": 404, "headers": []},
        {"type": "http.response.body", "body": b""},
    ]

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await served.lifespan(receive, send)
            return
        path = scope["path"]
        if not path.startswith(PREFIX):  # the readiness check's ping
            for message in other:
                await send(message)
            return
        header = b""
        for name, value in scope["headers"]:
            if name == _AUTHORIZATION:
                header = value
        if header not in callers:
            callers[header] = header.partition(b" ")[2]
        cursor = conn.execute(_JOB_SQL, (path[len(PREFIX) :],))
        found = cursor.fetchone()
        cursor.close()
        if found is None:
            for message in missing:
                await send(message)
            return
        body = orjson.dumps(job_document(JobRow._make(found)))
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def start(database: Path, cpu: int | None, logs: Path) -> Server:
    """The bare route on a free loopback port, on ``database``, pinned to ``cpu``."""
    return served.start("bare-route", "bare_route", str(database), cpu, logs)


if __name__ == "__main__":
    served.main("bare_route", DATABASE_ENV, sys.argv[1:])
