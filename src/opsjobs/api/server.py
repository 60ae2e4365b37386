"""Running the app under an HTTP server: granian (measured against uvicorn with `make bench`;
see docs/decisions.md, "HTTP server")."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from granian import Granian
from granian.constants import Interfaces, Loops, SSLProtocols
from granian.log import LogLevels

from .. import logs
from .metrics import MULTIPROCESS_ENV


@contextlib.contextmanager
def metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, prometheus_client's multiprocess mode: each worker writes its
    request series to a file in a fresh directory, and /metrics sums them all."""
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="opsjobs-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory  # inherited by the workers
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_ENV]
        shutil.rmtree(directory, ignore_errors=True)


def serve(
    factory: str,
    host: str,
    port: int,
    workers: int = 1,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    log_level: str = "info",
    log_format: str = "logfmt",
) -> None:
    """Serve the app that ``factory`` ("module:function") builds, in each worker process."""
    server = Granian(
        factory,
        factory=True,
        address=host,
        port=port,
        # ASGI with lifespan: each worker opens the store (and its runner) and closes them on
        # SIGTERM/SIGINT.
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        # granian's own records (and those of its worker processes) go through the one
        # configuration of logs.py: one line each, redacted; no access log, which would hold
        # query strings (an auth-token travels in one).
        log_level=LogLevels(log_level.lower()),
        log_dictconfig=logs.dict_config(log_level, log_format),
        log_access=False,
        ssl_cert=certfile,
        ssl_key=keyfile,
        # granian alone would refuse TLS 1.2, which clients that worked with opsjobs under
        # uvicorn may still speak.
        ssl_protocol_min=SSLProtocols.tls12,
    )
    with metrics_shared_by(workers):
        server.serve()
