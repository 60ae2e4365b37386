"""How a remote command reaches its server: settings (client/config.py), the client, and
its failures as one line on stderr with exit status 255 (``docs/cli.md``, "Exit status")."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from ...client import ApiError, Client, ClientConfig, ClientError
from .terminal import safe_name

# Exit status of a remote command that failed itself (server unreachable, request refused),
# as ssh does: apart from any exit code of a job, which `exec --follow` and `tail` pass on.
FAILED = 255

errors = Console(stderr=True, highlight=False)


@dataclass
class Remote:
    """What the `remote` group's options say, for its commands."""

    url: str | None = None
    config_file: Path | None = None

    def config(self) -> ClientConfig:
        return ClientConfig.load(path=self.config_file, url=self.url)


def fail(message: str) -> typer.Exit:
    errors.print(Text("error: ", style="red") + Text(safe_name(message)))
    return typer.Exit(FAILED)


def waiting(what: str, quiet: bool = False) -> contextlib.AbstractContextManager:
    """A spinner on stderr while the server answers, when a person watches it."""
    if quiet or not errors.is_terminal:
        return contextlib.nullcontext()
    return errors.status(Text(what))


@contextlib.contextmanager
def failures() -> Iterator[None]:
    """A client failure becomes one line and exit status 255, never a traceback."""
    try:
        yield
    except ApiError as exc:
        raise fail(f"{exc.status} {exc.code}: {exc.detail}") from None
    except ClientError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # an argument the client refused before sending it
        raise fail(str(exc)) from None


@contextlib.contextmanager
def connected(remote: Remote) -> Iterator[Client]:
    # httpx logs each request's URL at INFO; an operator's terminal does not want them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with failures():
        client = remote.config().client()
        with client:
            yield client
