"""Running the app under an HTTP server (see docs/decisions.md for the choice)."""

from __future__ import annotations

from pathlib import Path

import uvicorn


def serve(
    host: str,
    port: int,
    workers: int = 1,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    uvicorn.run(
        "opsjobs.api.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="info",
    )
