"""Running the app under an HTTP server: granian (measured against uvicorn with `make bench`;
see docs/decisions.md, "HTTP server")."""

from __future__ import annotations

from pathlib import Path

from granian import Granian
from granian.constants import Interfaces, Loops, SSLProtocols


def serve(
    host: str,
    port: int,
    workers: int = 1,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    Granian(
        "opsjobs.api.asgi:create",
        factory=True,
        address=host,
        port=port,
        # ASGI with lifespan: each worker opens the store (and its runner) and closes them on
        # SIGTERM/SIGINT.
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_access=False,
        ssl_cert=certfile,
        ssl_key=keyfile,
        # granian alone would refuse TLS 1.2, which clients that worked with opsjobs under
        # uvicorn may still speak.
        ssl_protocol_min=SSLProtocols.tls12,
    ).serve()
