"""`opsjobs audit`: the audit log of the local database, newest first (docs/cli.md)."""

from __future__ import annotations

import typer

from ..config import Settings
from ..store.audit import AuditQuery, read_audit
from .remote.commands import Actor, Json, Kind, Limit, Since
from .remote.terminal import print_json
from .remote.times import parse_time
from .remote.views import audit_table, stdout
from .runtime import ConfigFile, DatabaseUrl, opened_store, run


def audit(
    since: Since = None,
    kind: Kind = None,
    actor: Actor = None,
    limit: Limit = 100,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """The audit log of this database, newest first: logins, executions, changes."""
    settings = Settings.from_env(database_url=database_url)
    query = AuditQuery(start=parse_time(since), kind=kind, actor=actor, limit=limit)

    async def go() -> list[dict]:
        async with opened_store(settings) as store:
            return await read_audit(store, query)

    found = run(go())
    if as_json:
        print_json(found)
    else:
        stdout().print(audit_table(found))


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
