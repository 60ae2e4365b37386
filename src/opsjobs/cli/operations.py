"""``opsjobs operation``: operations of objects, links and classes, from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from ..config import Settings
from ..domain.errors import NotFound
from ..domain.operations import MQTT, SCRIPT
from ..store import operations
from .runtime import ConfigFile, DatabaseUrl, console, opened_store, run

app = typer.Typer(help="Operations.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _document(
    name: str,
    description: str,
    script_text: str | None,
    path: str | None,
    args: list[str],
    mqtt_topic: str | None,
    mqtt_message: str | None,
    timeout: float | None,
    runner: str | None,
) -> dict:
    """The operation the options describe; exactly one kind of operation must be chosen."""
    kinds = [script_text is not None, path is not None, mqtt_topic is not None]
    if sum(kinds) != 1:
        raise _fail("give exactly one of --script-text, --path and --mqtt-topic")
    if args and path is None:
        raise _fail("--arg goes with --path")
    if (mqtt_topic is None) != (mqtt_message is None):
        raise _fail("--mqtt-topic and --mqtt-message go together")
    if mqtt_topic is not None:
        op_type, parameters = MQTT, {"topic": mqtt_topic, "message": mqtt_message}
    elif path is not None:
        op_type, parameters = SCRIPT, {"type": "fileSystem", "path": path, "args": args}
    else:
        op_type, parameters = SCRIPT, {"type": "scriptText", "text": script_text}
    if timeout is not None:
        parameters["timeout"] = timeout
    if runner is not None:
        parameters["runner"] = runner
    return {"name": name, "type": op_type, "description": description, "parameters": parameters}


@app.command("add")
def operation_add(
    owner_id: Annotated[str, typer.Argument(help="object, link or class ID")],
    name: Annotated[str, typer.Option(help="the operation's name")],
    description: Annotated[str, typer.Option(help="what it does")] = "",
    script_text: Annotated[
        str | None, typer.Option(help="a script, run by its #! interpreter or /bin/sh")
    ] = None,
    path: Annotated[str | None, typer.Option(help="a program to run directly")] = None,
    arg: Annotated[list[str], typer.Option(help="an argument of --path (repeatable)")] = [],
    mqtt_topic: Annotated[str | None, typer.Option(help="an MQTT topic to publish to")] = None,
    mqtt_message: Annotated[str | None, typer.Option(help="the message to publish")] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds before it is stopped")] = None,
    runner: Annotated[str | None, typer.Option(help="only runners with this tag run it")] = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add an operation to an object, a link or a class; prints its ID."""
    document = _document(
        name, description, script_text, path, arg, mqtt_topic, mqtt_message, timeout, runner
    )
    settings = Settings.from_env(database_url=database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            for kind in ("object", "link", "class"):
                if await operations.owner_exists(store, kind, owner_id):
                    return await operations.create_operation(store, kind, owner_id, document)
            raise NotFound(f"no object, link or class {owner_id}")

    print(run(go())["id"])
