"""The demo `make run` sets up: a small tree, a link, two users and some history."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from rich.console import Console

from ..domain.clock import now_ms
from ..domain.ids import new_id
from ..domain.passwords import Passwords, generate_password
from ..domain.rights import PERMISSIONS
from ..store import entities, operations, users
from ..store.core import Store
from ..store.jobs import insert_jobs

ADMIN, VIEWER = "admin", "viewer"


@dataclass
class DemoLogins:
    admin_password: str
    viewer_password: str
    job_id: str
    hidden_job_id: str
    greet_path: str = ""  # the execute route of web-1's "Greet" operation


# A real operation to run: a declared argument, a property, both reaching the script only as
# environment variables (docs/security.md).
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


async def ensure_demo(store: Store, passwords: Passwords) -> DemoLogins:
    """Create the demo on first use; on every use, set and return fresh passwords.

    Fresh passwords each time means `make run` can always print a login that works.
    """
    admin_password, viewer_password = generate_password(), generate_password()
    existing = {u["login"]: u for u in await users.list_users(store)}
    if ADMIN in existing:
        for login, secret in ((ADMIN, admin_password), (VIEWER, viewer_password)):
            if login in existing:
                await users.update_user(
                    store, existing[login]["id"], {"password_hash": passwords.hash(secret)}
                )
        job_id, hidden_job_id = await _demo_job_ids(store, existing)
        greet = await _greet_path(store)
        return DemoLogins(admin_password, viewer_password, job_id, hidden_job_id, greet)

    datacenter = await entities.create_object(store, name="Data center", parent_ids=["1"])
    web = await entities.create_object(
        store,
        name="web-1",
        parent_ids=[datacenter["id"]],
        properties=[{"name": "ip", "value": "10.0.0.11"}],
    )
    db = await entities.create_object(
        store,
        name="db-1",
        parent_ids=[datacenter["id"]],
        properties=[{"name": "ip", "value": "10.0.0.12"}],
    )
    office = await entities.create_object(store, name="Office", parent_ids=["1"])
    router = await entities.create_object(store, name="router-1", parent_ids=[office["id"]])
    link = await entities.create_link(store, source=web["id"], target=db["id"], name="web-1 → db-1")
    await operations.create_operation(store, "object", web["id"], GREET)

    admin = await users.create_user(
        store,
        login=ADMIN,
        password_hash=passwords.hash(admin_password),
        name="Administrator",
        permissions=list(PERMISSIONS),
        include=["1"],
    )
    await users.create_user(
        store,
        login=VIEWER,
        password_hash=passwords.hash(viewer_password),
        name="Viewer",
        permissions=["execute-operations"],
        include=[datacenter["id"]],
        exclude=[db["id"]],
    )

    now = now_ms()
    history = [
        (
            web,
            1,
            "uptime",
            {"stdout": " 10:01:02 up 12 days,  3:04,  0 users", "exitCode": 0, "stderr": ""},
        ),
        (
            web,
            1,
            "Restart nginx",
            {"stdout": "", "exitCode": 1, "stderr": "nginx: permission denied"},
        ),
        (db, 1, "Vacuum", {"stdout": "VACUUM", "exitCode": 0, "stderr": ""}),
        (
            router,
            1,
            "Ping",
            {"stdout": "3 packets transmitted, 3 received", "exitCode": 0, "stderr": ""},
        ),
        (link, 2, "Trace", {"topic": "links/trace", "message": "start"}),
    ]
    rows = []
    for n, (owner, owner_type, name, description) in enumerate(history):
        at = now - (len(history) - n) * 60_000
        failed = description.get("exitCode", 0) != 0
        rows.append(
            {
                "id": new_id(at / 1000),
                "owner_id": owner["id"],
                "owner_type": owner_type,
                "operation_id": new_id(at / 1000),
                "operation_name": name,
                "user_id": admin["id"],
                "timestamp": at,
                "process_meta": None,
                "description": orjson.dumps(description).decode(),
                "results": "[]",
                "status": "failed" if failed else "succeeded",
                "started": at + 3,
                "finished": at + 60,
                "error": "exit code 1" if failed else None,
                "truncated": False,
                "runner": "demo",
            }
        )
    await insert_jobs(store, rows)
    greet = await _greet_path(store)
    return DemoLogins(admin_password, viewer_password, rows[0]["id"], rows[2]["id"], greet)


async def _greet_path(store: Store) -> str:
    from sqlalchemy import select

    from ..store.schema import objects
    from ..store.schema import operations as table

    async with store.read() as conn:
        row = (
            await conn.execute(
                select(table.c.id, table.c.owner_id)
                .join(objects, objects.c.id == table.c.owner_id)
                .where(objects.c.name == "web-1", table.c.name == GREET["name"])
            )
        ).first()
    if row is None:  # a demo made before it had operations
        return ""
    return f"/node/api/objects/{row.owner_id}/operations/{row.id}/execute"


async def _demo_job_ids(store: Store, existing: dict) -> tuple[str, str]:
    from sqlalchemy import select

    from ..store.schema import jobs, objects

    async with store.read() as conn:
        rows = (
            await conn.execute(
                select(jobs.c.id, objects.c.name)
                .join(objects, objects.c.id == jobs.c.owner_id)
                .where(objects.c.name.in_(["web-1", "db-1"]))
                .order_by(jobs.c.timestamp)
            )
        ).all()
    by_name = {}
    for job_id, name in rows:
        by_name.setdefault(name, job_id)
    return by_name.get("web-1", ""), by_name.get("db-1", "")


def print_logins(logins: DemoLogins, host: str = "127.0.0.1:8080") -> None:
    out = Console()
    out.print("[bold]opsjobs demo[/bold]")
    out.print(f"  admin  password: [bold]{logins.admin_password}[/bold]  (sees everything)")
    out.print(
        f"  viewer password: [bold]{logins.viewer_password}[/bold]  "
        "(sees the Data center except db-1)"
    )
    out.print(f"  a job:           {logins.job_id}")
    out.print("  try:")
    out.print(
        f"    curl -u admin:{logins.admin_password} http://{host}/node/api/jobs/{logins.job_id}",
        soft_wrap=True,
    )
    if logins.greet_path:
        out.print("  run an operation (answers the new job's ID; GET it as above):")
        out.print(
            f"    curl -u viewer:{logins.viewer_password} -X POST http://{host}{logins.greet_path}"
            """ -H 'Content-Type: application/json' -d '{"name": "Ada"}'""",
            soft_wrap=True,
            markup=False,
        )
