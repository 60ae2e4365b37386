"""``opsjobs purge``: the retention steps once, now, on the local database, with a progress
bar and a summary (docs/cli.md; what is purged: docs/deployment.md, "Retention")."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import MAX_RETENTION_DAYS, Settings
from ..domain.ids import id_seconds, is_object_id
from ..service.retention import Policy, Run, Step, purge_once
from ..store import retention as store_retention
from .runtime import ConfigFile, DatabaseUrl, console, opened_store, run

_DURATION = re.compile(r"([1-9][0-9]{0,6})([dhm])")
_UNIT_DAYS = {"d": 1.0, "h": 1 / 24, "m": 1 / 1440}


def parse_duration(text: str | None) -> float | None:
    """``30d``, ``12h`` or ``90m`` as days: a whole number above 0 and one unit, at most
    a hundred years; anything else is refused."""
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r}: give a whole number and d, h or m, such as 30d")
    days = int(match.group(1)) * _UNIT_DAYS[match.group(2)]
    if days > MAX_RETENTION_DAYS:
        raise typer.BadParameter(f"{text!r}: at most {MAX_RETENTION_DAYS}d")
    return days


def _policy(settings: Settings, older_than: float | None) -> Policy:
    policy = Policy.from_settings(settings)
    if older_than is not None:
        policy = replace(policy, job_days=older_than)
    if not policy.enabled:
        console.print(
            "[red]error:[/red] nothing to purge: give --older-than, or set "
            "OPSJOBS_RETENTION_DAYS, OPSJOBS_OUTPUT_RETENTION_DAYS or "
            "OPSJOBS_AUDIT_RETENTION_DAYS"
        )
        raise typer.Exit(2)
    return policy


class _Bar:
    """One bar per step, advanced by how far in time its walk has got."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, tuple[int, int]] = {}  # step → (task, first second)

    def __call__(self, step: Step, _deleted: int) -> None:
        tally = step.tally
        if tally is None or step.cutoff is None or not is_object_id(tally.position):
            return
        at = id_seconds(tally.position)
        if step.name not in self.tasks:
            total = max(1, step.cutoff // 1000 - at)
            self.tasks[step.name] = (self.progress.add_task(step.name, total=total, deleted=0), at)
        task, first = self.tasks[step.name]
        self.progress.update(task, completed=at - first, deleted=tally.deleted)


def _summary(result: Run) -> Table:
    verb = "would be deleted" if result.dry_run else "deleted"
    table = Table(title=f"purge{' (dry run)' if result.dry_run else ''}, {result.seconds:.1f} s")
    table.add_column("step")
    table.add_column(verb, justify="right")
    table.add_column("output chunks", justify="right")
    table.add_column("kept: per-owner minimum", justify="right")
    table.add_column("skipped: queued or running", justify="right")
    for step in result.steps:
        if step.name not in result.deleted:
            continue
        t = step.tally
        cells = [str(result.deleted[step.name])]
        cells += ["", "", ""] if t is None else [str(t.chunks), str(t.kept), str(t.active)]
        table.add_row(step.name, *cells)
    return table


def purge_command(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="purge finished jobs older than this (30d, 12h, 90m) instead of "
            "OPSJOBS_RETENTION_DAYS",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be purged; delete nothing")
    ] = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Purge old jobs and output now, as the servers' purger does (docs/deployment.md,
    "Retention"): never a queued or running job, never the most recent finished jobs of
    each object or link and operation (OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION)."""
    settings = Settings.from_env(database_url=database_url)
    policy = _policy(settings, parse_duration(older_than))

    async def go() -> Run | None:
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[deleted]} rows"), TimeElapsedColumn())  # fmt: skip
        async with opened_store(settings) as store:
            async with store_retention.exclusive(store) as mine:
                if not mine:
                    return None
                with Progress(*columns, console=console) as progress:
                    return await purge_once(store, policy, dry_run=dry_run, progress=_Bar(progress))

    started = time.perf_counter()
    result = run(go())
    if result is None:
        console.print("[red]error:[/red] another process is purging this database; try later")
        raise typer.Exit(1)
    result.seconds = time.perf_counter() - started
    Console(width=120).print(_summary(result))  # the result, on stdout


def register(app: typer.Typer) -> None:
    app.command("purge")(purge_command)
