"""Typer commands. Each one is a thin shell over the store and the server."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from ..config import Settings
from ..domain.names import check_name
from ..domain.passwords import Passwords, generate_password
from ..domain.rights import PERMISSIONS
from ..store import entities, importing, users
from ..store.db import Database
from ..store.migrate import is_current, upgrade
from . import audit as audit_commands
from . import configuration as configuration_commands
from . import demo as demo_data
from . import execution as execution_commands
from . import operations as operation_commands
from . import purge as purge_commands
from . import remote
from . import schedules as schedule_commands
from .runtime import ConfigFile, DatabaseUrl, console, opened_store, run

app = typer.Typer(
    help="opsjobs: operations on monitored objects, every run kept as a job.",
    no_args_is_help=True,
    add_completion=False,
    # A failure is one line (runtime.run); never rich's traceback with its frames' locals.
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
group_app = typer.Typer(help="Groups.", no_args_is_help=True)
object_app = typer.Typer(help="Objects.", no_args_is_help=True)
link_app = typer.Typer(help="Links.", no_args_is_help=True)
jobs_app = typer.Typer(help="Job history.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(object_app, name="object")
app.add_typer(link_app, name="link")
app.add_typer(jobs_app, name="jobs")
app.add_typer(operation_commands.app, name="operation")
app.add_typer(schedule_commands.app, name="schedule")
app.add_typer(remote.app, name="remote")  # a server elsewhere, through its API


def _settings(database_url: str | None) -> Settings:
    return Settings.from_env(database_url=database_url)


def _check_permissions(permissions: list[str]) -> None:
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        console.print(
            f"[red]error:[/red] unknown permission {unknown[0]!r}; known: {', '.join(PERMISSIONS)}"
        )
        raise typer.Exit(2)


@app.command()
def migrate(database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(database_url)

    async def go() -> None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    run(go())
    console.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes, each a whole server (runner included)")
    ] = 1,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
) -> None:
    """Serve the HTTP API."""
    settings = _settings(database_url)
    if (certfile is None) != (keyfile is None):
        console.print("[red]error:[/red] --certfile and --keyfile go together")
        raise typer.Exit(2)

    async def migrated() -> bool:
        database = Database(settings.database_url)
        try:
            return await is_current(database)
        finally:
            await database.dispose()

    if not run(migrated()):
        console.print(
            "[red]error:[/red] the database is not migrated (or is older than this "
            "opsjobs): run `opsjobs migrate` first"
        )
        raise typer.Exit(1)
    # Worker processes build the app from the environment.
    os.environ["OPSJOBS_DATABASE_URL"] = settings.database_url
    from ..api.server import serve as run_server
    from ..compose import FACTORY

    run_server(
        FACTORY,
        host=host,
        port=port,
        workers=workers,
        certfile=certfile,
        keyfile=keyfile,
        log_level=settings.log_level,
        log_format=settings.log_format,
    )


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    host: Annotated[str, typer.Option(help="HOST:PORT shown in the example")] = "127.0.0.1:8080",
) -> None:
    """Fill the database with a small demo and its runs (once), and print fresh passwords."""
    settings = _settings(database_url)

    async def go() -> demo_data.DemoLogins:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()
        async with opened_store(settings) as store:
            return await demo_data.ensure_demo(
                store, Passwords(settings.argon2_time_cost, settings.argon2_memory_kib), settings
            )

    logins = run(go())
    demo_data.print_logins(logins, host)


@user_app.command("add")
def user_add(
    login: str,
    password: Annotated[str | None, typer.Option(help="the password")] = None,
    generate: Annotated[
        bool, typer.Option("--generate", help="generate and print a password")
    ] = False,
    permission: Annotated[list[str], typer.Option(help="action permission (repeatable)")] = [],
    include: Annotated[list[str], typer.Option(help="object or link ID to include")] = [],
    exclude: Annotated[list[str], typer.Option(help="object or link ID to exclude")] = [],
    group: Annotated[list[str], typer.Option(help="group name (repeatable)")] = [],
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a user."""
    if (password is None) == (not generate):
        console.print("[red]error:[/red] give exactly one of --password and --generate")
        raise typer.Exit(2)
    _check_permissions(permission)
    secret = password if password is not None else generate_password()
    settings = _settings(database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            group_ids = await users.group_ids_by_name(store, group) if group else []
            hashed = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib).hash(secret)
            return await users.create_user(
                store,
                login=login,
                password_hash=hashed,
                permissions=permission,
                include=include,
                exclude=exclude,
                group_ids=group_ids,
            )

    document = run(go())
    print(document["id"])
    if generate:
        console.print(f"password for {login}: [bold]{secret}[/bold]")


@group_app.command("add")
def group_add(
    name: str,
    permission: Annotated[list[str], typer.Option(help="action permission (repeatable)")] = [],
    include: Annotated[list[str], typer.Option(help="object or link ID to include")] = [],
    exclude: Annotated[list[str], typer.Option(help="object or link ID to exclude")] = [],
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a group of users sharing rights."""
    _check_permissions(permission)
    settings = _settings(database_url)

    async def go() -> dict:
        async with opened_store(settings) as store:
            return await users.create_group(
                store, name=name, permissions=permission, include=include, exclude=exclude
            )

    print(run(go())["id"])


@object_app.command("add")
def object_add(
    name: str,
    parent: Annotated[
        list[str], typer.Option(help="parent object ID (repeatable); default 1")
    ] = [],
    object_id: Annotated[str | None, typer.Option("--id", help="use this ID")] = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add an object."""
    from ..domain.ids import is_object_id

    if object_id is not None and not is_object_id(object_id):
        console.print("[red]error:[/red] --id must be 24 hex digits")
        raise typer.Exit(2)
    settings = _settings(database_url)

    async def go() -> dict:
        check_name(name)
        async with opened_store(settings) as store:
            return await entities.create_object(
                store, name=name, parent_ids=parent or ["1"], object_id=object_id
            )

    print(run(go())["id"])


@link_app.command("add")
def link_add(
    source: str,
    target: str,
    name: str = "",
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Add a link between two objects."""
    settings = _settings(database_url)

    async def go() -> dict:
        check_name(name)
        async with opened_store(settings) as store:
            return await entities.create_link(store, source=source, target=target, name=name)

    print(run(go())["id"])


@jobs_app.command("import")
def jobs_import(
    file: Annotated[Path, typer.Argument(help="JSON lines, one job document each; - for stdin")],
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Bulk-load job history (opsjobs or MongoDB extended JSON documents)."""
    settings = _settings(database_url)
    stdin = str(file) == "-"
    if not stdin and not file.is_file():
        console.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)
    total = None if stdin else file.stat().st_size

    async def go() -> importing.ImportReport:
        with Progress(
            *Progress.get_default_columns()[:1],
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("importing", total=total)
            source = sys.stdin.buffer if stdin else file.open("rb")
            try:
                async with opened_store(settings) as store:
                    return await importing.import_lines(
                        store, source, lambda n: progress.advance(task, n)
                    )
            finally:
                if not stdin:
                    source.close()

    report = run(go())
    for number, problem in report.problems:
        console.print(f"line {number}: {problem}")
    console.print(f"loaded {report.loaded} jobs; {len(report.problems)} lines refused")
    if report.problems:
        raise typer.Exit(1)


execution_commands.register(app)  # runner, exec: listed after serve
configuration_commands.register(app)  # config show
audit_commands.register(app)  # audit
purge_commands.register(app)  # purge
