"""``opsjobs operation add``: the command prints the new operation's ID, or says what is wrong."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from opsjobs.cli.commands import app
from opsjobs.cli.runtime import opened_store
from opsjobs.config import Settings
from opsjobs.domain.ids import is_object_id
from opsjobs.store import classes, entities, operations

runner = CliRunner()


def opsjobs(database_url: str, *args: str):
    return runner.invoke(app, [*args, "--database-url", database_url])


def operations_of(database_url: str, kind: str, owner_id: str) -> list[dict]:
    async def read() -> list[dict]:
        async with opened_store(Settings(database_url=database_url)) as store:
            return await operations.list_operations(store, kind, owner_id)

    return asyncio.run(read())


def make(database_url: str, what) -> str:
    async def go() -> str:
        async with opened_store(Settings(database_url=database_url)) as store:
            return await what(store)

    return asyncio.run(go())


@pytest.fixture
def host(database_url) -> str:
    return make(
        database_url, lambda s: _id(entities.create_object(s, name="web-1", parent_ids=["1"]))
    )


async def _id(created) -> str:
    return (await created)["id"]


def test_add_a_script_text_operation(database_url, backend, host):
    result = opsjobs(
        database_url,
        *("operation", "add", host, "--name", "Uptime"),
        *("--script-text", "uptime", "--timeout", "5", "--runner", "dmz"),
    )
    assert result.exit_code == 0, result.output
    operation_id = result.stdout.strip()
    assert is_object_id(operation_id)
    (operation,) = operations_of(database_url, "object", host)
    assert operation["id"] == operation_id
    assert (operation["name"], operation["type"]) == ("Uptime", 2)
    assert operation["parameters"] == {
        "type": "scriptText",
        "text": "uptime",
        "timeout": 5.0,
        "runner": "dmz",
    }


def test_add_a_program_with_args(database_url, backend, host):
    result = opsjobs(
        database_url,
        *("operation", "add", host, "--name", "Ping", "--path", "/bin/ping"),
        *("--arg", "-c", "--arg", "1", "--arg", "{{properties.ip}}"),
    )
    assert result.exit_code == 0, result.output
    (operation,) = operations_of(database_url, "object", host)
    assert operation["parameters"] == {
        "type": "fileSystem",
        "path": "/bin/ping",
        "args": ["-c", "1", "{{properties.ip}}"],
    }


def test_add_an_mqtt_operation_to_a_link(database_url, backend, host):
    other = make(
        database_url, lambda s: _id(entities.create_object(s, name="db-1", parent_ids=["1"]))
    )
    link = make(database_url, lambda s: _id(entities.create_link(s, source=host, target=other)))
    result = opsjobs(
        database_url,
        *("operation", "add", link, "--name", "Notify"),
        *("--mqtt-topic", "links/{{id}}", "--mqtt-message", "go"),
    )
    assert result.exit_code == 0, result.output
    (operation,) = operations_of(database_url, "link", link)
    assert (operation["type"], operation["parameters"]) == (
        1,
        {"topic": "links/{{id}}", "message": "go"},
    )


def test_add_an_operation_to_a_class(database_url, backend):
    class_id = make(
        database_url, lambda s: _id(classes.create_class(s, name="Linux", class_id="25"))
    )
    result = opsjobs(
        database_url, "operation", "add", class_id, "--name", "Df", "--script-text", "df -h"
    )
    assert result.exit_code == 0, result.output
    assert [o["name"] for o in operations_of(database_url, "class", "25")] == ["Df"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "give exactly one of --script-text, --path and --mqtt-topic"),
        (["--script-text", "a", "--path", "/bin/b"], "give exactly one of"),
        (["--script-text", "a", "--arg", "x"], "--arg goes with --path"),
        (["--mqtt-topic", "t"], "--mqtt-topic and --mqtt-message go together"),
    ],
)
def test_contradicting_options_are_refused(database_url, host, options, message):
    result = opsjobs(database_url, "operation", "add", host, "--name", "X", *options)
    assert result.exit_code == 2
    assert message in result.stderr
    assert operations_of(database_url, "object", host) == []


def test_invalid_operations_are_refused_naming_the_field(database_url, host):
    result = opsjobs(
        database_url,
        *("operation", "add", host, "--name", "X", "--script-text", "true", "--timeout", "0"),
    )
    assert result.exit_code == 1
    assert "parameters.timeout: must be a positive number of seconds" in result.stderr
    assert operations_of(database_url, "object", host) == []


def test_an_unknown_owner_is_refused(database_url):
    missing = "0123456789abcdef01234567"
    result = opsjobs(
        database_url, "operation", "add", missing, "--name", "X", "--script-text", "true"
    )
    assert result.exit_code == 1
    assert f"no object, link or class {missing}" in result.stderr
