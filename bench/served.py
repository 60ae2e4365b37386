"""An ASGI app of the benchmark's own, served exactly as ``opsjobs serve`` serves the app
(api/server.py's ``serve``: the same interface, loop, worker count and logging), in a
process of its own pinned like every server of the run: granian's floor (floor.py) and the
bare job route (bare_route.py).

The module runs as ``python -m bench.<module> PORT ARGUMENT``; its one argument reaches
each worker's app factory through an environment variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import servers
from .servers import HOST, Server

_ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench.<module>` runs


async def lifespan(receive, send) -> None:
    """The lifespan protocol, with nothing to start or stop."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


def start(name: str, module: str, argument: str, cpu: int | None, logs: Path) -> Server:
    """``python -m bench.<module> PORT argument`` on a free loopback port, pinned to ``cpu``;
    ``stop()`` ends it."""
    port = servers.free_port()
    argv = [sys.executable, "-m", f"bench.{module}", str(port), argument]
    return servers.start(name, argv, port, "", cpu, logs, cwd=_ROOT)


def main(module: str, variable: str, argv: list[str]) -> None:
    """Serve ``bench.<module>:app_factory`` on ``argv``'s port until stopped, with
    ``variable`` set to ``argv``'s argument for each worker's factory."""
    from opsjobs.api.server import serve

    port, argument = int(argv[0]), argv[1]
    os.environ[variable] = argument
    serve(f"bench.{module}:app_factory", HOST, port, log_level="warning")
