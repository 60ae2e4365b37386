"""``opsjobs schedule``: schedules on the local database (docs/api.md, "Schedules"), made and
checked as the API makes them: a schedule runs as its owner, ``--user``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..config import Settings
from ..domain.errors import NotFound
from ..service import schedules as service
from ..service.execute import requester_by_login
from ..store import schedules as stored
from .runtime import ConfigFile, DatabaseUrl, opened_store, run

app = typer.Typer(
    help="Schedules: operations run at the times of a cron expression or an interval."
)
out = Console()

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
ScheduleId = Annotated[str, typer.Argument(help="the schedule's ID")]


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(documents: list[dict[str, Any]]) -> Table:
    # IDs are for copying into the next command: never cut short with "…" on a narrow
    # terminal; the schedule's own on one line, the others folded if they must be.
    table = Table()
    table.add_column("ID", no_wrap=True, min_width=24)
    for heading in ("name", "target", "operation", "timing", "next run", "state"):
        table.add_column(heading, overflow="fold" if heading in ("target", "operation") else None)
    for doc in documents:
        ((kind, entity_id),) = doc["target"].items()
        timing = (
            f"{doc['cron']} ({doc['timezone']})" if doc["cron"] else f"every {doc['interval']} s"
        )
        state = "paused" if doc["paused"] else "active"
        if doc["stoppedReason"]:
            state += f": {doc['stoppedReason']}"
        cells = (
            doc["id"], doc["name"], f"{kind}\n{entity_id}", doc["operation"], timing,
            _when(doc["nextRunAt"]), state,
        )  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))  # as text: "[" is not markup here
    return table


def _show(documents: list[dict[str, Any]] | dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(documents, indent=2))
        return
    out.print(_table(documents if isinstance(documents, list) else [documents]))


def _args(pairs: list[str]) -> dict[str, Any]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r}: give NAME=VALUE", param_hint="--arg")
        found[name] = value
    return found


@app.command("add")
def schedule_add(
    user: Annotated[str, typer.Option(help="the owner's login: the schedule runs as this user")],
    name: Annotated[str, typer.Option(help="the schedule's name")],
    operation: Annotated[str, typer.Option(help="the operation's ID")],
    object_id: Annotated[str | None, typer.Option("--object", help="the object's ID")] = None,
    link_id: Annotated[str | None, typer.Option("--link", help="the link's ID")] = None,
    cron: Annotated[str | None, typer.Option(help="a 5-field cron expression")] = None,
    timezone: Annotated[str | None, typer.Option(help="an IANA time zone for --cron")] = None,
    interval: Annotated[int | None, typer.Option(help="seconds between runs")] = None,
    missed: Annotated[str, typer.Option(help="skip or run-once")] = "skip",
    arg: Annotated[list[str], typer.Option(help="NAME=VALUE for {{args.NAME}}")] = [],
    paused: Annotated[bool, typer.Option(help="made paused")] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a schedule; prints it."""
    target = {"object": object_id} if object_id is not None else {"link": link_id}
    body = {
        "name": name, "operation": operation, "target": target, "args": _args(arg), "cron": cron,
        "timezone": timezone, "interval": interval, "missed": missed, "paused": paused,
    }  # fmt: skip
    settings = Settings.from_env(database_url=database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            owner = requester_by_login(store, user)
            return await service.create_schedule(store, owner.id or "", body)

    _show(run(go()), as_json)


@app.command("list")
def schedule_list(
    as_json: AsJson = False, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Every schedule, oldest first."""
    settings = Settings.from_env(database_url=database_url)

    async def go() -> list:
        async with opened_store(settings) as store:
            rows = await stored.listed(store, None, service.LIST_MAX)
            return [service.document(row) for row in rows]

    _show(run(go()), as_json)


async def _row(store, schedule_id: str):
    row = await stored.get(store, schedule_id)
    if row is None:
        raise NotFound.entity("Schedule", schedule_id)
    return row


@app.command("show")
def schedule_show(
    schedule_id: ScheduleId,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """One schedule."""
    settings = Settings.from_env(database_url=database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            return service.document(await _row(store, schedule_id))

    _show(run(go()), as_json)


def _pause(schedule_id: str, paused: bool, as_json: bool, database_url: str | None) -> None:
    settings = Settings.from_env(database_url=database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            return await service.set_paused(store, await _row(store, schedule_id), paused)

    _show(run(go()), as_json)


@app.command("pause")
def schedule_pause(
    schedule_id: ScheduleId,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Pause a schedule: no run until it is resumed."""
    _pause(schedule_id, True, as_json, database_url)


@app.command("resume")
def schedule_resume(
    schedule_id: ScheduleId,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Resume a schedule from now (its owner's rights are checked again)."""
    _pause(schedule_id, False, as_json, database_url)


@app.command("delete")
def schedule_delete(
    schedule_id: ScheduleId, database_url: DatabaseUrl = None, config: ConfigFile = None
) -> None:
    """Delete a schedule (the jobs it made stay)."""
    settings = Settings.from_env(database_url=database_url)

    async def go() -> None:
        async with opened_store(settings) as store:
            await stored.remove(store, schedule_id)

    run(go())
    print(f"deleted {schedule_id}")
