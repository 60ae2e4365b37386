"""granian's floor: the job's bytes answered by an ASGI app that does nothing else, served
exactly as ``opsjobs serve`` serves the app (api/server.py's ``serve``: the same interface,
loop, worker count and logging), pinned to the server's core like every server of the run.

No Python route under this server can answer faster than this app does: it reads no header,
checks nothing and builds no response object. So it splits the distance between the job route
and nginx in two: what the HTTP server and the event loop cost a request (floor / nginx), and
what the route itself costs on top (job / floor).

    python -m bench.floor PORT BODY_FILE   # serves until stopped (bench.__main__ starts it)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import served
from .servers import Server

BODY_ENV = "OPSJOBS_BENCH_FLOOR_BODY"
PATH = "/floor/job.json"


def app_factory():
    """The app, in each worker: the body read once from the file ``BODY_ENV`` names."""
    body = Path(os.environ[BODY_ENV]).read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    answer = {"type": "http.response.body", "body": body}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await served.lifespan(receive, send)
            return
        await send(start)
        await send(answer)

    return app


def start(directory: Path, body: bytes, cpu: int | None, logs: Path) -> Server:
    """The floor app on a free loopback port, pinned to ``cpu``; ``stop()`` ends it."""
    directory.mkdir(parents=True, exist_ok=True)
    body_file = directory / "job.json"
    body_file.write_bytes(body)
    return served.start("granian-floor", "floor", str(body_file), cpu, logs)


if __name__ == "__main__":
    served.main("floor", BODY_ENV, sys.argv[1:])
