"""The remote commands: `opsjobs remote ...` drives a server elsewhere through its API, with
credentials from the environment or the client's configuration file, never from the command
line (client/config.py, ``docs/cli.md``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ...client import STATUSES, Client, JobQuery
from .batches import app as batch_app
from .follow import follow
from .session import Remote, connected, errors, fail, waiting
from .terminal import cell, print_json, safe_name
from .times import parse_time
from .views import audit_table, jobs_table, object_tree, print_job, stdout

app = typer.Typer(
    help="Drive an opsjobs server elsewhere through its API (credentials from OPSJOBS_USER "
    "and OPSJOBS_PASSWORD, or OPSJOBS_TOKEN, or the client's configuration file).",
    no_args_is_help=True,
)
jobs_app = typer.Typer(help="Jobs on the server.", no_args_is_help=True)
objects_app = typer.Typer(help="Objects on the server.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(objects_app, name="objects")
app.add_typer(batch_app, name="batch")

Json = Annotated[bool, typer.Option("--json", help="print JSON, for a program to read")]
JobId = Annotated[str, typer.Argument(help="the job's ID")]
OBJECT_ID = re.compile(r"[0-9a-f]{24}")


@app.callback()
def remote(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="the server, e.g. https://opsjobs.example (default OPSJOBS_URL)"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="the client's TOML file (default ~/.config/opsjobs/client.toml)"),
    ] = None,
) -> None:
    ctx.obj = Remote(url, config)


@app.command()
def whoami(ctx: typer.Context, as_json: Json = False) -> None:
    """The user the credentials log in as."""
    with connected(ctx.obj) as client:
        user = client.current_user()
    if as_json:
        print_json(user)
    else:
        stdout().print(cell(f"{user.get('login')} ({user.get('id')})"))


@jobs_app.command("get")
def jobs_get(ctx: typer.Context, job_id: JobId, as_json: Json = False) -> None:
    """One job: its status, times, exit code and output."""
    with connected(ctx.obj) as client:
        job = client.get_job(job_id)
    if as_json:
        print_json(job)
    else:
        print_job(job)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    object_id: Annotated[str | None, typer.Option("--object", help="an object's ID")] = None,
    link_id: Annotated[str | None, typer.Option("--link", help="a link's ID")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="created at or after: ms, ISO time, or 2h (ago)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="created at or before (as --from)")
    ] = None,
    status: Annotated[str | None, typer.Option(help=f"one of {', '.join(STATUSES)}")] = None,
    operation: Annotated[str | None, typer.Option(help="an operation's ID")] = None,
    user: Annotated[str | None, typer.Option(help="the ID of the user who ran it")] = None,
    order: Annotated[str, typer.Option(help="asc (oldest first) or desc")] = "asc",
    limit: Annotated[int | None, typer.Option(min=0, help="at most this many")] = None,
    skip: Annotated[int, typer.Option(min=0, help="leave out this many first")] = 0,
    as_json: Json = False,
) -> None:
    """The job history of one object or one link, filtered and paged."""
    if (object_id is None) == (link_id is None):
        raise typer.BadParameter("give exactly one of --object and --link")
    kind, entity_id = ("object", object_id) if object_id is not None else ("link", link_id)
    with connected(ctx.obj) as client:
        query = JobQuery(
            start=parse_time(start),
            end=parse_time(end),
            status=status,
            operation_id=operation,
            user_id=user,
            order=order,
            limit=limit,
            skip=skip or None,
        )
        with waiting("reading the history", as_json):
            jobs = client.list_entity_jobs(kind, entity_id, query)
    if as_json:
        print_json(jobs)
    else:
        stdout().print(jobs_table(jobs))


def parse_args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint="--arg")
        args[name] = value
    return args


def resolve_operation(client: Client, kind: str, owner_id: str, operation: str) -> str:
    """An operation's ID from its ID or its name among the owner's operations."""
    if OBJECT_ID.fullmatch(operation):
        return operation
    found = [o for o in client.list_operations(kind, owner_id) if o.get("name") == operation]
    if len(found) != 1:
        which = "no" if not found else "more than one"
        raise fail(f"{which} operation named {operation!r} on {kind} {owner_id}; give its ID")
    return str(found[0]["id"])


@app.command("exec")
def exec_command(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="the object's (or with --link, link's) ID")],
    operation: Annotated[str, typer.Argument(help="the operation's ID or name")],
    arg: Annotated[list[str], typer.Option(help="NAME=VALUE argument (repeatable)")] = [],
    link: Annotated[bool, typer.Option("--link", help="OWNER is a link")] = False,
    key: Annotated[
        str | None, typer.Option("--idempotency-key", help="run once however often sent")
    ] = None,
    follow_output: Annotated[
        bool, typer.Option("--follow", "-f", help="print the output live; exit with its code")
    ] = False,
    as_json: Json = False,
) -> None:
    """Run an operation on the server; print the new job's ID, or with --follow its output."""
    args = parse_args(arg)
    kind = "link" if link else "object"
    with connected(ctx.obj) as client:
        operation_id = resolve_operation(client, kind, owner, operation)
        job_id = client.execute(owner, operation_id, args, kind=kind, idempotency_key=key)
        if not follow_output:
            print_json({"id": job_id}) if as_json else print(safe_name(job_id))
            return
        if not as_json:
            errors.print(cell(f"job {job_id} queued; following its output (Ctrl-C to cancel)"))
        code = follow(client, job_id, as_json=as_json)
    raise typer.Exit(code)


@app.command()
def tail(ctx: typer.Context, job_id: JobId, as_json: Json = False) -> None:
    """A job's output from its start, live until it ends; exits with the job's exit code."""
    with connected(ctx.obj) as client:
        code = follow(client, job_id, as_json=as_json)
    raise typer.Exit(code)


@app.command()
def cancel(ctx: typer.Context, job_id: JobId, as_json: Json = False) -> None:
    """Cancel a queued or running job."""
    with connected(ctx.obj) as client:
        job = client.cancel_job(job_id)
    if as_json:
        print_json(job)
        return
    status = job.get("execution", {}).get("status")
    said = "cancelled" if status == "cancelled" else f"cancelling (it is {status})"
    stdout().print(cell(f"job {job_id}: {said}"))


@app.command()
def operations(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="the object's (or with --link, link's) ID")],
    link: Annotated[bool, typer.Option("--link", help="OWNER is a link")] = False,
    as_json: Json = False,
) -> None:
    """The operations an object or link offers (its own and its class's)."""
    with connected(ctx.obj) as client:
        found = client.list_operations("link" if link else "object", owner)
    if as_json:
        print_json(found)
        return
    table = Table("operation", "name", "description")
    for operation in found:
        table.add_row(
            cell(operation.get("id")),
            cell(operation.get("name")),
            cell(operation.get("description")),
        )
    stdout().print(table)


Since = Annotated[
    str | None, typer.Option("--since", help="at or after: ms, ISO time, or 1d / 2h (ago)")
]
Kind = Annotated[
    str | None, typer.Option("--kind", help="a kind (user.update) or a prefix ending in . (auth.)")
]
Actor = Annotated[str | None, typer.Option("--actor", help="the actor's user ID or login")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=1000, help="at most this many rows")]


@app.command()
def audit(
    ctx: typer.Context,
    since: Since = None,
    kind: Kind = None,
    actor: Actor = None,
    limit: Limit = 100,
    as_json: Json = False,
) -> None:
    """The audit log on the server, newest first (needs manage-users)."""
    with connected(ctx.obj) as client:
        found = client.audit(start=parse_time(since), kind=kind, actor=actor, limit=limit)
    if as_json:
        print_json(found)
    else:
        stdout().print(audit_table(found))


@objects_app.command("tree")
def objects_tree(ctx: typer.Context, as_json: Json = False) -> None:
    """The objects the user may see, as a tree."""
    with connected(ctx.obj) as client:
        with waiting("reading the objects", as_json):
            nodes = client.object_tree()
    if as_json:
        print_json(nodes)
    else:
        stdout().print(object_tree(nodes))
