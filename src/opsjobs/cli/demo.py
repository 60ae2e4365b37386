"""The demo `make run` sets up: a small tree, a link, two users, operations, real runs, and
a state trigger that really fired.

Everything is made through the functions the API and `opsjobs exec` use: objects, links
and users by the store, operations by `store/operations.create_operation` (validated as a
POST would be), and each run queued by `service.execute.execute_operation`, then run by a
runner of the demo's own, in this process, until it ends. Nothing is written as a canned row.

Running the demo again changes nothing but the passwords: each part is looked up by what
names it (an object by name and parent, the link by its ends, an operation by name on its
object, a user by login) and made only when missing, and each demo operation is run only
when it has no job yet. So the job the demo prints stays the same from one `make run` to the
next, and the history grows only by what its users run. Passwords are new on every run, so
`make run` can always print a login that works.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import orjson
from rich.console import Console
from sqlalchemy import select

from ..config import Settings
from ..domain.ids import ROOT_OBJECT_ID
from ..domain.jobs import JobStatus
from ..domain.kinds import EntityKind
from ..domain.passwords import Passwords, generate_password
from ..domain.rights import PERMISSIONS
from ..execution.runner import Runner
from ..service.execute import RunRequest, entity_kind, execute_operation, requester_by_login
from ..service.firing import fire_due
from ..store import entities, operations, states, triggers, users
from ..store.core import Store
from ..store.schema import jobs, links, object_parents, objects

ADMIN, VIEWER = "admin", "viewer"

# How long the demo waits for its runs: longer than any of them may take (the scripts'
# timeout, the MQTT connect timeout), so a run still going past it is a fault worth seeing.
RUNS_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05

# (name, parent's name or None for the root, the "ip" property or None)
TREE = (
    ("Data center", None, None),
    ("web-1", "Data center", "10.0.0.11"),
    ("db-1", "Data center", "10.0.0.12"),
    ("Office", None, None),
    ("router-1", "Office", None),
)

# A script: harmless, informative on any Linux host. It runs where the runner runs, which
# in the demo is this machine (web-1 and db-1 are names, not hosts).
SYSTEM_STATUS = {
    "name": "System status",
    "type": 2,
    "description": "Uptime, kernel and disk space of the host the runner runs on",
    "parameters": {"type": "scriptText", "text": "uptime\nuname -srm\ndf -h /\n", "timeout": 10},
}

# A declared argument and a property, both reaching the script only as environment
# variables: each template becomes a quoted reference to one (docs/security.md).
GREET = {
    "name": "Greet",
    "type": 2,
    "description": "Say hello from web-1",
    "parameters": {
        "type": "scriptText",
        "text": 'printf "Hello, %s, from %s\\n" "{{args.name}}" {{properties.ip}}',
        "arguments": {
            "name": {
                "type": "string",
                "pattern": "[A-Za-z][A-Za-z0-9 ._-]{0,39}",
                "default": "world",
                "description": "who to greet",
            }
        },
    },
}

# An MQTT message to OPSJOBS_MQTT_URL. Without a broker there, its run fails and says why.
ANNOUNCE = {
    "name": "Announce",
    "type": 1,
    "description": "Publish a hello from web-1 to the MQTT broker",
    "parameters": {
        "topic": "opsjobs/demo/{{id}}/hello",
        "message": "hello from {{user.login}} on web-1 ({{properties.ip}})",
    },
}

OPERATIONS = {"web-1": (SYSTEM_STATUS, GREET, ANNOUNCE), "db-1": (SYSTEM_STATUS,)}

# The runs the demo makes, as admin, each once: (object, operation, arguments).
RUNS = (
    ("web-1", "System status", {}),
    ("web-1", "Greet", {}),
    ("web-1", "Announce", {}),
    ("db-1", "System status", {}),
)


@dataclass(frozen=True)
class DemoRun:
    object_name: str
    operation_name: str
    job_id: str
    status: str
    summary: str  # the output's first line, the MQTT topic, or why it failed


@dataclass(frozen=True)
class DemoLogins:
    admin_password: str
    viewer_password: str
    runs: list[DemoRun]
    execute_path: str  # the execute route of web-1's "Greet" operation
    db_id: str  # db-1, which has a state trigger

    @property
    def job_id(self) -> str:
        """The job the demo shows first: web-1's "System status" run."""
        return self.runs[0].job_id


async def ensure_demo(store: Store, passwords: Passwords, settings: Settings) -> DemoLogins:
    """Make what of the demo is missing, run what never ran; set and return fresh passwords."""
    ids = await _ensure_tree(store)
    await _ensure_link(store, ids["web-1"], ids["db-1"])
    operation_ids = await _ensure_operations(store, ids)
    admin_password, viewer_password = generate_password(), generate_password()
    await _ensure_user(
        store,
        passwords,
        ADMIN,
        admin_password,
        name="Administrator",
        permissions=list(PERMISSIONS),
        include=[ROOT_OBJECT_ID],
    )
    await _ensure_user(
        store,
        passwords,
        VIEWER,
        viewer_password,
        name="Viewer",
        permissions=["execute-operations"],
        include=[ids["Data center"]],
        exclude=[ids["db-1"]],
    )
    runs = await _ensure_runs(store, settings, ids, operation_ids)
    runs.append(await _ensure_trigger_run(store, settings, ids["db-1"], operation_ids))
    greet = operation_ids["web-1", GREET["name"]]
    execute_path = f"/node/api/objects/{ids['web-1']}/operations/{greet}/execute"
    return DemoLogins(admin_password, viewer_password, runs, execute_path, ids["db-1"])


# -- the tree, the link, the operations, the users --------------------------------------------


async def _object_ids(store: Store) -> dict[tuple[str, str], str]:
    """Every object's ID by (name, parent ID); of two alike, the older."""
    query = (
        select(objects.c.id, objects.c.name, object_parents.c.parent_id)
        .join(object_parents, object_parents.c.object_id == objects.c.id)
        .order_by(objects.c.created.desc(), objects.c.id.desc())
    )
    async with store.read() as conn:
        rows = (await conn.execute(query)).all()
    return {(row.name, row.parent_id): row.id for row in rows}  # the older written last


async def _ensure_tree(store: Store) -> dict[str, str]:
    """The demo objects' IDs by name, made where missing."""
    existing = await _object_ids(store)
    ids: dict[str, str] = {}
    for name, parent, ip in TREE:
        parent_id = ids[parent] if parent else ROOT_OBJECT_ID
        object_id = existing.get((name, parent_id))
        if object_id is None:
            properties = None if ip is None else [{"name": "ip", "value": ip}]
            made = await entities.create_object(
                store, name=name, parent_ids=[parent_id], properties=properties
            )
            object_id = made["id"]
        ids[name] = object_id
    return ids


async def _ensure_link(store: Store, source: str, target: str) -> None:
    query = select(links.c.id).where(links.c.source == source, links.c.target == target)
    async with store.read() as conn:
        found = (await conn.execute(query)).first()
    if found is None:
        await entities.create_link(store, source=source, target=target, name="web-1 → db-1")


async def _ensure_operations(store: Store, ids: dict[str, str]) -> dict[tuple[str, str], str]:
    """The demo operations' IDs by (object name, operation name), made where missing."""
    found = {}
    for object_name, documents in OPERATIONS.items():
        object_id = ids[object_name]
        existing = await operations.list_operations(store, "object", object_id)
        by_name = {op["name"]: op["id"] for op in reversed(existing)}  # the first of a name
        for document in documents:
            operation_id = by_name.get(document["name"])
            if operation_id is None:
                made = await operations.create_operation(store, "object", object_id, document)
                operation_id = made["id"]
            found[object_name, document["name"]] = operation_id
    return found


async def _ensure_user(
    store: Store, passwords: Passwords, login: str, password: str, **rights: Any
) -> None:
    """Make the user with these rights, or give the existing one the new password only."""
    password_hash = passwords.hash(password)
    existing = {u["login"]: u["id"] for u in await users.list_users(store)}
    if login in existing:
        await users.update_user(store, existing[login], {"password_hash": password_hash})
    else:
        await users.create_user(store, login=login, password_hash=password_hash, **rights)


# -- the runs ---------------------------------------------------------------------------------


async def _first_job(store: Store, owner_id: str, operation_id: str) -> str | None:
    query = (
        select(jobs.c.id)
        .where(jobs.c.owner_id == owner_id, jobs.c.operation_id == operation_id)
        .order_by(jobs.c.timestamp, jobs.c.id)
        .limit(1)
    )
    async with store.read() as conn:
        return (await conn.execute(query)).scalar()


async def _ensure_runs(
    store: Store,
    settings: Settings,
    ids: dict[str, str],
    operation_ids: dict[tuple[str, str], str],
) -> list[DemoRun]:
    """Each demo run's job: the operation's first, or a new run queued and run now."""
    job_ids, queued = [], []
    for object_name, operation_name, args in RUNS:
        owner_id, operation_id = ids[object_name], operation_ids[object_name, operation_name]
        job_id = await _first_job(store, owner_id, operation_id)
        if job_id is None:
            run = RunRequest(
                entity_kind(store, owner_id),
                owner_id,
                operation_id,
                requester_by_login(store, ADMIN),
                args,
            )
            job_id = await execute_operation(
                store, run, default_timeout=settings.default_timeout_seconds
            )
            queued.append(job_id)
        job_ids.append(job_id)
    if queued:
        await run_until_finished(store, settings, queued)
    return [
        await _demo_run(store, object_name, operation_name, job_id)
        for (object_name, operation_name, _), job_id in zip(RUNS, job_ids, strict=True)
    ]


async def _ensure_trigger_run(
    store: Store, settings: Settings, db_id: str, operation_ids: dict[tuple[str, str], str]
) -> DemoRun:
    """db-1's state trigger, and the run it started once: db-1 went to Alarm (5), and its
    trigger ran "System status" on it, as a job nobody asked for (``user_id`` null)."""
    status = operation_ids["db-1", SYSTEM_STATUS["name"]]
    if await triggers.own_triggers(store, EntityKind.OBJECT, db_id) is None:
        alarm = {"states": [5], "type": "operation", "payload": {"operation": status}}
        await triggers.put_triggers(store, EntityKind.OBJECT, db_id, [alarm])
    async with store.read() as conn:
        job_id = (
            await conn.execute(
                select(jobs.c.id)
                .where(jobs.c.owner_id == db_id, jobs.c.process_meta.is_not(None))
                .order_by(jobs.c.timestamp)
                .limit(1)
            )
        ).scalar()
    if job_id is None:
        admin = requester_by_login(store, ADMIN)
        await states.set_state(store, EntityKind.OBJECT, db_id, 3, user_id=admin.id)
        await states.set_state(store, EntityKind.OBJECT, db_id, 5, user_id=admin.id)
        (fired,) = await fire_due(
            store, default_timeout=settings.default_timeout_seconds, late_after_ms=60_000
        )
        job_id = fired.job["id"]
        await run_until_finished(store, settings, [job_id])
    return await _demo_run(store, "db-1", "System status (trigger: db-1 in Alarm)", job_id)


async def run_until_finished(
    store: Store, settings: Settings, job_ids: list[str], timeout: float = RUNS_TIMEOUT_SECONDS
) -> None:
    """Run a runner in this process until these jobs have finished, or ``timeout`` passed.

    It is a runner like any other: it may also take older queued jobs of this database, and
    what it still runs when it stops is cancelled after the usual grace period.
    """
    runner = Runner(store, settings, concurrency=len(job_ids))
    await runner.start()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not await _all_finished(store, job_ids):
                    await asyncio.sleep(POLL_SECONDS)
    finally:
        await runner.stop()


async def _all_finished(store: Store, job_ids: list[str]) -> bool:
    for job_id in job_ids:
        row = await store.job_row(job_id)
        if row is None or not JobStatus(row.status).finished:
            return False
    return True


async def _demo_run(store: Store, object_name: str, operation_name: str, job_id: str) -> DemoRun:
    row = await store.job_row(job_id)
    description = orjson.loads(row.description)
    if row.error:
        summary = row.error
    elif "topic" in description:
        summary = f"published to {description['topic']}"
    else:
        summary = (description.get("stdout") or "").strip().split("\n", 1)[0]
    return DemoRun(object_name, operation_name, job_id, row.status, summary)


# -- what `opsjobs demo` prints ---------------------------------------------------------------


def print_logins(logins: DemoLogins, host: str = "127.0.0.1:8080") -> None:
    out = Console()
    base = f"http://{host}/node/api"
    admin, viewer = f"admin:{logins.admin_password}", f"viewer:{logins.viewer_password}"
    out.print("[bold]opsjobs demo[/bold]")
    out.print(f"  admin  password: [bold]{logins.admin_password}[/bold]  (sees everything)")
    out.print(
        f"  viewer password: [bold]{logins.viewer_password}[/bold]  "
        "(sees the Data center except db-1)"
    )
    out.print("  the demo's runs (each made once, by a runner of its own):")
    for run in logins.runs:
        out.print(
            f"    {run.job_id}  {run.object_name:<6} {run.operation_name:<14} "
            f"{run.status:<10}{run.summary}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    out.print(f"  a job:           {logins.job_id}")
    out.print("  read it:")
    out.print(f"    curl -u {admin} {base}/jobs/{logins.job_id}", soft_wrap=True, markup=False)
    out.print("  run web-1's Greet as the viewer, then read the new job back:")
    out.print(
        f"""    job=$(curl -s -u {viewer} -X POST http://{host}{logins.execute_path}"""
        """ -d '{"name": "Ada"}' | tr -d '"')""",
        soft_wrap=True,
        markup=False,
    )
    out.print(f"    sleep 1; curl -u {viewer} {base}/jobs/$job", soft_wrap=True, markup=False)
    out.print("  put db-1 back to Working, then in Alarm: its state trigger runs System status:")
    db_path = f"{base}/objects/{logins.db_id}"
    for state in (3, 5):
        out.print(
            f"""    curl -u {admin} -X PATCH {db_path} -d '{{"state_id": {state}}}'""",
            soft_wrap=True,
            markup=False,
        )
    out.print(
        f"""    sleep 1; curl -u {admin} {base}/jobs -d '{{"objects": ["{logins.db_id}"]}}'""",
        soft_wrap=True,
        markup=False,
    )
