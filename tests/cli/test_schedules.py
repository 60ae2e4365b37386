"""``opsjobs schedule``: add, list, show, pause, resume and delete on the local database,
checked as the API checks them."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from opsjobs.cli.commands import app
from opsjobs.cli.runtime import opened_store
from opsjobs.config import Settings
from opsjobs.store import entities, operations, users

runner = CliRunner()


def opsjobs(database_url: str, *args: str):
    return runner.invoke(app, [*args, "--database-url", database_url])


@pytest.fixture
def world(database_url) -> dict:
    """An object with an operation, and ``ops`` who may execute it."""

    async def go() -> dict:
        async with opened_store(Settings(database_url=database_url)) as store:
            host = (await entities.create_object(store, name="web-1", parent_ids=["1"]))["id"]
            document = {
                "name": "up",
                "type": 2,
                "parameters": {"type": "scriptText", "text": "true"},
            }
            operation = await operations.create_operation(store, "object", host, document)
            await users.create_user(
                store, login="ops", password_hash="x", permissions=["execute-operations"],
                include=["1"],
            )  # fmt: skip
            return {"host": host, "operation": operation["id"]}

    return asyncio.run(go())


def add(database_url: str, world: dict, *extra: str):
    return opsjobs(
        database_url,
        *("schedule", "add", "--user", "ops", "--name", "nightly"),
        *("--operation", world["operation"], "--object", world["host"], *extra),
    )


def test_add_list_show_pause_resume_delete(database_url, backend, world):
    made = add(database_url, world, "--cron", "0 3 * * *", "--timezone", "Europe/Berlin", "--json")
    assert made.exit_code == 0, made.output
    schedule = json.loads(made.stdout)
    assert (schedule["cron"], schedule["timezone"], schedule["paused"]) == (
        "0 3 * * *",
        "Europe/Berlin",
        False,
    )
    listed = opsjobs(database_url, "schedule", "list", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [schedule["id"]]
    table = runner.invoke(
        app, ["schedule", "list", "--database-url", database_url], env={"COLUMNS": "200"}
    )
    assert table.exit_code == 0 and "nightly" in table.stdout and "Europe/Berlin" in table.stdout

    paused = opsjobs(database_url, "schedule", "pause", schedule["id"], "--json")
    assert json.loads(paused.stdout)["paused"] is True
    resumed = opsjobs(database_url, "schedule", "resume", schedule["id"], "--json")
    assert json.loads(resumed.stdout)["nextRunAt"] is not None
    shown = opsjobs(database_url, "schedule", "show", schedule["id"], "--json")
    assert json.loads(shown.stdout)["id"] == schedule["id"]
    deleted = opsjobs(database_url, "schedule", "delete", schedule["id"])
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(opsjobs(database_url, "schedule", "list", "--json").stdout) == []
    missing = opsjobs(database_url, "schedule", "show", schedule["id"])
    assert missing.exit_code != 0


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--cron", "61 * * * *"), "cron"),
        (("--interval", "0"), "interval"),
        (("--cron", "0 * * * *", "--timezone", "Nowhere/Else"), "timezone"),
        (("--interval", "60", "--missed", "always"), "missed"),
        (("--interval", "60", "--arg", "novalue"), "NAME=VALUE"),
    ],
)
def test_refusals_name_the_field(database_url, world, extra, says):
    result = add(database_url, world, *extra)
    assert result.exit_code != 0
    assert says in result.output


def test_an_unknown_owner_is_refused(database_url, world):
    result = opsjobs(
        database_url,
        *("schedule", "add", "--user", "nobody", "--name", "n", "--interval", "60"),
        *("--operation", world["operation"], "--object", world["host"]),
    )
    assert result.exit_code != 0 and "nobody" in result.output


def test_a_name_in_brackets_is_shown_as_it_is(database_url, world):
    made = runner.invoke(
        app,
        [
            *("schedule", "add", "--user", "ops", "--name", "[bold]x[/bold]", "--interval", "60"),
            *("--operation", world["operation"], "--object", world["host"]),
            *("--database-url", database_url),
        ],
        env={"COLUMNS": "200"},
    )
    assert made.exit_code == 0, made.output
    assert "[bold]x[/bold]" in made.stdout


def test_the_table_shows_ids_whole_on_an_80_column_terminal(database_url, world):
    # `schedule pause <schedule id>` takes the ID the table shows: never cut short with "…".
    made = add(database_url, world, "--interval", "60", "--json")
    schedule_id = json.loads(made.stdout)["id"]
    table = runner.invoke(
        app, ["schedule", "list", "--database-url", database_url], env={"COLUMNS": "80"}
    )
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert schedule_id in table.stdout and "…" not in table.stdout.split("┃ name")[1]
