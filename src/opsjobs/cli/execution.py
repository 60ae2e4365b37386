"""``opsjobs runner`` (a runner on its own) and ``opsjobs exec`` (run an operation now)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Annotated

import orjson
import typer

from ..config import Settings
from ..domain.errors import BadRequest
from ..domain.jobs import JobStatus, job_document
from ..domain.output import STDERR, STDOUT
from ..execution.runner import Runner
from ..service.execute import RunRequest, entity_kind, execute_operation, requester_by_login
from ..store.core import Store
from ..store.output import read_output
from .runtime import ConfigFile, DatabaseUrl, console, opened_store, run

FOLLOW_POLL_SECONDS = 0.1
# How long --follow waits quietly for some runner to take the job before saying so.
UNCLAIMED_HINT_SECONDS = 5.0


# -- opsjobs runner -------------------------------------------------------------------------


async def run_runner(settings: Settings, tags: list[str], concurrency: int | None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully (see Runner.stop)."""
    async with opened_store(settings) as store:
        runner = Runner(store, settings, tags=tags or None, concurrency=concurrency)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await runner.start()
        console.print(f"runner {runner.name} started; tags: {', '.join(runner.tags) or '(none)'}")
        await stop.wait()
        console.print("stopping: running jobs get their grace period")
        await runner.stop()


def runner_command(
    tag: Annotated[
        list[str], typer.Option(help="run jobs of operations with this runner tag (repeatable)")
    ] = [],
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="jobs at once (default OPSJOBS_RUNNER_CONCURRENCY)")
    ] = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Run jobs from the shared database: untagged ones and those of the given tags."""
    settings = Settings.from_env(database_url=database_url)
    if settings.is_sqlite:
        console.print(
            "[yellow]note:[/yellow] a runner of its own is meant for a shared PostgreSQL; on "
            f"SQLite it finds other processes' jobs by polling every {settings.runner_poll_seconds:g} s"
        )
    run(run_runner(settings, tag, concurrency))


# -- opsjobs exec ---------------------------------------------------------------------------


def parse_args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BadRequest(f"--arg {pair!r}: expected NAME=VALUE")
        args[name] = value
    return args


def exit_status(document: dict) -> int:
    """The job's exit code for the shell: a script's own, else 0 for success and 1 if not."""
    code = document["description"].get("exitCode")
    if isinstance(code, int):
        return code if code or document["execution"]["status"] == "succeeded" else 1
    return 0 if document["execution"]["status"] == "succeeded" else 1


async def follow(store: Store, job_id: str) -> dict:
    """Copy the job's output to our stdout and stderr as it comes; its document at the end."""
    sinks = {STDOUT: sys.stdout.buffer, STDERR: sys.stderr.buffer}
    offsets = {STDOUT: 0, STDERR: 0}
    started, hinted = time.monotonic(), False
    while True:
        row = await store.job_row(job_id)  # before the output: finished means all of it is in
        status = JobStatus(row.status)
        for stream, sink in sinks.items():
            while data := await read_output(store, job_id, stream, offsets[stream], 1 << 20):
                offsets[stream] += len(data)
                sink.write(data)
                sink.flush()
        if status.finished:
            return orjson.loads(orjson.dumps(job_document(row)))
        if status is JobStatus.QUEUED and not hinted:
            if time.monotonic() - started > UNCLAIMED_HINT_SECONDS:
                console.print(
                    "[yellow]waiting for a runner[/yellow] (is `opsjobs serve` or "
                    "`opsjobs runner` running on this database?)"
                )
                hinted = True
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


def exec_command(
    owner_id: Annotated[str, typer.Argument(help="the object or link to run it on")],
    operation_id: Annotated[str, typer.Argument(help="the operation (its own or its class's)")],
    arg: Annotated[list[str], typer.Option(help="NAME=VALUE for {{args.NAME}} (repeatable)")] = [],
    user: Annotated[
        str | None, typer.Option(help="run as this login (for {{user.*}} and the history)")
    ] = None,
    follow_output: Annotated[
        bool,
        typer.Option("--follow", help="show the output live; exit with the job's exit code"),
    ] = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Queue a run of an operation and print the job's ID (a runner does the running)."""
    settings = Settings.from_env(database_url=database_url)

    async def go() -> int:
        async with opened_store(settings) as store:
            args = parse_args(arg)
            # The same run as the execute routes make (service/execute.py).
            request = RunRequest(
                kind=entity_kind(store, owner_id),
                entity_id=owner_id,
                operation_id=operation_id,
                requester=requester_by_login(store, user),
                args=args,
            )
            job_id = await execute_operation(
                store, request, default_timeout=settings.default_timeout_seconds
            )
            if not follow_output:
                print(job_id)
                return 0
            console.print(f"job {job_id}")
            document = await follow(store, job_id)
            execution = document["execution"]
            if execution["status"] != "succeeded":
                console.print(f"job {job_id} {execution['status']}: {execution['error']}")
            return exit_status(document)

    code = run(go())
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("runner")(runner_command)
    app.command("exec")(exec_command)
