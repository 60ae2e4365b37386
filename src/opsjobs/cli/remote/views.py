"""What a person reads: jobs, lists of jobs and the object tree as rich tables and trees.
Every value from the server goes through terminal.cell or safe_name first."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from .terminal import cell, is_terminal, safe_name, safe_output

STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "timeout": "red",
    "lost": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "queued": "cyan",
}


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def when(ms: Any) -> str:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return ""
    try:
        return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ms)


def duration(execution: dict[str, Any]) -> str:
    started, finished = execution.get("started"), execution.get("finished")
    if not isinstance(started, int) or not isinstance(finished, int):
        return ""
    return f"{(finished - started) / 1000:.1f} s"


def exit_text(job: dict[str, Any]) -> str:
    description = job.get("description") if isinstance(job.get("description"), dict) else {}
    code = description.get("exitCode")
    return "" if code is None else str(code)


def _execution(job: dict[str, Any]) -> dict[str, Any]:
    execution = job.get("execution")
    return execution if isinstance(execution, dict) else {}


def status_cell(job: dict[str, Any]) -> Text:
    status = _execution(job).get("status")
    return cell(status, STATUS_STYLES.get(str(status)))


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table("job", "created", "status", "operation", "exit", "took", "error")
    for job in jobs:
        operation = job.get("operation") if isinstance(job.get("operation"), dict) else {}
        execution = _execution(job)
        table.add_row(
            cell(job.get("id")),
            cell(when(job.get("timestamp"))),
            status_cell(job),
            cell(operation.get("name") or job.get("operation_id")),
            cell(exit_text(job)),
            cell(duration(execution)),
            cell(execution.get("error")),
        )
    return table


def job_table(job: dict[str, Any]) -> Table:
    execution = _execution(job)
    table = Table(show_header=False, box=None)
    rows = [
        ("job", cell(job.get("id"))),
        ("status", status_cell(job)),
        (
            "owner",
            cell(f"{job.get('owner_id')} ({'link' if job.get('owner_type') == 2 else 'object'})"),
        ),
        ("operation", cell(job.get("operation_id"))),
        ("user", cell(job.get("user_id"))),
        ("created", cell(when(job.get("timestamp")))),
        ("started", cell(when(execution.get("started")))),
        ("finished", cell(when(execution.get("finished")))),
        ("took", cell(duration(execution))),
        ("exit code", cell(exit_text(job))),
        ("error", cell(execution.get("error"))),
        ("runner", cell(execution.get("runner"))),
        ("results", cell(len(job.get("results") or []))),
    ]
    for name, value in rows:
        table.add_row(Text(name, style="bold"), value)
    return table


def print_job(job: dict[str, Any]) -> None:
    console = stdout()
    console.print(job_table(job))
    description = job.get("description") if isinstance(job.get("description"), dict) else {}
    for stream in ("stdout", "stderr"):
        text = description.get(stream)
        if isinstance(text, str) and text:
            console.print(Text(f"--- {stream} ---", style="bold"))
            shown = safe_output(text) if is_terminal(sys.stdout) else text
            console.print(Text(shown), end="" if shown.endswith("\n") else "\n")


def object_tree(nodes: list[dict[str, Any]]) -> Tree:
    root = Tree(Text("objects", style="bold"), guide_style="dim")
    pending = [(node, root) for node in reversed(nodes)]
    while pending:
        node, parent = pending.pop()
        label = Text(safe_name(node.get("name"))) + Text(
            f"  {safe_name(node.get('id'))}", style="dim"
        )
        branch = parent.add(label)
        pending.extend((child, branch) for child in reversed(node.get("children") or []))
    return root


OUTCOME_STYLES = {"ok": "green", "refused": "yellow", "failed": "red"}


def _actor(row: dict[str, Any]) -> str:
    login, actor_id = row.get("actor_login"), row.get("actor_id")
    return "" if actor_id is None else f"{login} ({actor_id})"


def audit_table(rows: list[dict[str, Any]]) -> Table:
    """Rows of the audit log, as the API and the store answer them."""
    table = Table("time", "kind", "outcome", "actor", "address", "target", "detail")
    for row in rows:
        outcome = row.get("outcome")
        status = row.get("status")
        target = " ".join(str(p) for p in (row.get("target_type"), row.get("target_id")) if p)
        table.add_row(
            cell(when(row.get("at"))),
            cell(row.get("kind")),
            cell(f"{outcome} {status}" if status else outcome, OUTCOME_STYLES.get(str(outcome))),
            cell(_actor(row)),
            cell(row.get("address")),
            cell(target),
            cell(json.dumps(row["detail"]) if row.get("detail") is not None else ""),
        )
    return table
