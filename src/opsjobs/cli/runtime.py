"""Helpers the commands share: settings, an opened store, and error reporting."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Annotated, TypeVar

import structlog
import typer
from rich.console import Console
from rich.markup import escape

from ..config import CONFIG_ENV, Settings
from ..domain.errors import OpsjobsError
from ..logs import configure, redact
from ..store.core import NotMigrated, Store
from ..store.db import unavailable

T = TypeVar("T")
console = Console(stderr=True)
log = structlog.get_logger("opsjobs.cli")

# Every command that opens the database takes this option.
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="OPSJOBS_DATABASE_URL",
        help="sqlite:///path or postgresql://...; default ./var/opsjobs.db",
    ),
]


def _use_config_file(path: Path | None) -> Path | None:
    """Make ``path`` the settings file of this process and those it starts (serve's workers
    read it through OPSJOBS_CONFIG), checked now: a value it refuses stops the command."""
    if path is not None:
        os.environ[CONFIG_ENV] = str(path.resolve())
        settings = Settings.from_env()
        configure(settings.log_level, settings.log_format)
    return path


# Every command that reads settings takes this option; the environment still wins over it.
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="a TOML file of settings (keys named as the settings, e.g. database_url); "
        "OPSJOBS_* variables win over it",
        callback=_use_config_file,
        is_eager=True,
        dir_okay=False,
    ),
]


@contextlib.asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[Store]:
    store = Store(settings.database_url, settings.database_timeout_seconds)
    try:
        await store.open()
        yield store
    finally:
        await store.close()


def run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine; known failures become one clear line and exit status 1, an
    unexpected one a single log line (its traceback without local variables, see logs.py)."""
    try:
        return asyncio.run(coro)
    except NotMigrated as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except OpsjobsError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except Exception as exc:
        if unavailable(exc):
            reason = redact(str(exc).strip().split("\n", 1)[0])
            console.print(f"[red]error:[/red] the database is unavailable: {escape(reason)}")
            raise typer.Exit(1) from None
        log.exception("command failed")
        raise typer.Exit(1) from None
