"""`opsjobs remote batch ...`: batches on the server (docs/api.md §21): one operation run
over a subtree, a class, a tag or a list of objects or links, a few jobs at a time."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from .session import connected, fail
from .terminal import cell, print_json, safe_name
from .views import STATUS_STYLES, stdout, when

app = typer.Typer(
    help="Batches: one operation run over many objects or links, a few jobs at a time.",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="print JSON, for a program to read")]
BatchId = Annotated[str, typer.Argument(help="the batch's ID")]
Ids = Annotated[list[str], typer.Option(help="an ID (repeatable)")]
COUNTED = ("waiting", "queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost",
           "skipped", "notQueued")  # fmt: skip


def _target(subtree: str | None, of_class: str | None, tag: str | None, objects, links) -> dict:
    given = {
        "subtree": subtree,
        "class": of_class,
        "tag": tag,
        "objects": list(objects) or None,
        "links": list(links) or None,
    }
    chosen = {kind: value for kind, value in given.items() if value is not None}
    if len(chosen) != 1:
        raise fail("give exactly one of --subtree, --class, --tag, --object, --link")
    return chosen


def _args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise fail(f"--arg {pair!r}: expected NAME=VALUE")
        args[name] = value
    return args


@app.command("run")
def batch_run(
    ctx: typer.Context,
    operation: Annotated[str, typer.Argument(help="the operation's ID (a class's, usually)")],
    subtree: Annotated[str | None, typer.Option(help="an object: it and all below it")] = None,
    of_class: Annotated[
        str | None, typer.Option("--class", help="a class: all its objects and links")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="a tag's name: all that carry it")] = None,
    object_id: Annotated[
        list[str], typer.Option("--object", help="an object's ID (repeatable)")
    ] = [],
    link_id: Annotated[list[str], typer.Option("--link", help="a link's ID (repeatable)")] = [],
    arg: Annotated[list[str], typer.Option(help="NAME=VALUE argument (repeatable)")] = [],
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="jobs at once")] = 10,
    stop_after: Annotated[
        int | None, typer.Option("--stop-after-failures", min=1, help="stop after N failures")
    ] = None,
    name: Annotated[str | None, typer.Option(help="the batch's name")] = None,
    as_json: Json = False,
) -> None:
    """Run an operation over a target set; prints the new batch's ID."""
    body: dict[str, Any] = {
        "operation": operation,
        "target": _target(subtree, of_class, tag, object_id, link_id),
        "args": _args(arg),
        "concurrency": concurrency,
        "stopAfterFailures": stop_after,
    }
    if name is not None:
        body["name"] = name
    with connected(ctx.obj) as client:
        made = client.create_batch(body)
    if as_json:
        print_json(made)
    else:
        print(safe_name(made.get("id")))


def _counts(batch: dict[str, Any]) -> str:
    counts = batch.get("counts") if isinstance(batch.get("counts"), dict) else {}
    return ", ".join(f"{counts[k]} {k}" for k in COUNTED if counts.get(k))


def _batches_table(batches: list[dict[str, Any]]) -> Table:
    table = Table("batch", "name", "created", "status", "concurrency", "targets")
    for batch in batches:
        table.add_row(
            cell(batch.get("id")),
            cell(batch.get("name")),
            cell(when(batch.get("created"))),
            cell(batch.get("status")),
            cell(batch.get("concurrency")),
            cell(_counts(batch)),
        )
    return table


@app.command("list")
def batch_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 100,
    as_json: Json = False,
) -> None:
    """The batches the user may read, newest first."""
    with connected(ctx.obj) as client:
        found = client.list_batches(limit=limit)
    if as_json:
        print_json(found)
    else:
        stdout().print(_batches_table(found))


@app.command("get")
def batch_get(
    ctx: typer.Context,
    batch_id: BatchId,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="jobs shown")] = 100,
    skip: Annotated[int, typer.Option(min=0, help="jobs skipped first")] = 0,
    as_json: Json = False,
) -> None:
    """One batch: its status, counts and a page of its jobs."""
    with connected(ctx.obj) as client:
        batch = client.get_batch(batch_id, limit=limit, skip=skip)
    if as_json:
        print_json(batch)
        return
    out = stdout()
    out.print(_batches_table([batch]))
    if batch.get("stoppedReason"):
        out.print(cell(f"stopped: {batch['stoppedReason']}"))
    jobs = Table("job", "entity", "status")
    for job in batch.get("jobs") or []:
        entity = job.get("entity") if isinstance(job.get("entity"), dict) else {}
        status = job.get("status")
        jobs.add_row(
            cell(job.get("id")),
            cell(" ".join(f"{k} {v}" for k, v in entity.items())),
            cell(status, STATUS_STYLES.get(str(status))),
        )
    out.print(jobs)


@app.command("cancel")
def batch_cancel(ctx: typer.Context, batch_id: BatchId, as_json: Json = False) -> None:
    """Cancel a batch: no more jobs; its queued and running ones are cancelled."""
    with connected(ctx.obj) as client:
        batch = client.cancel_batch(batch_id)
    if as_json:
        print_json(batch)
    else:
        stdout().print(cell(f"batch {batch_id}: {batch.get('status')} ({_counts(batch)})"))
