"""A real `opsjobs serve` for the remote client and the remote commands: users, a small
object tree and script operations, made through the store (users) and the API itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import log_secrets
from helpers import cli_env, run_cli, running_server
from opsjobs.client import Client
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import users
from opsjobs.store.core import Store

ADMIN = ("remote-admin", "remote-admin-pw-5d2e9a")
# May run operations, and sees the site only.
VIEWER = ("remote-viewer", "remote-viewer-pw-8c1af3")

# Prints a line, waits until the test says so (a file appears), prints another, exits 3: a
# client that shows the first line before the second exists really streams.
GATED = """\
printf 'first line\\n'
i=0
while [ ! -e "$OPSJOBS_ARG_gate" ] && [ "$i" -lt 400 ]; do sleep 0.05; i=$((i+1)); done
printf 'second line\\n'
printf 'to stderr\\n' >&2
exit 3
"""
OPERATIONS = {
    "Greet": ('echo "Hello, $OPSJOBS_ARG_name"', {"name": {"type": "string", "required": True}}),
    "gated": (GATED, {"gate": {"type": "string", "required": True}}),
    "sleepy": ("echo started; sleep 60", None),
    # Output a terminal must not obey: colour, a window title, cursor up and erase line.
    "hostile": (r"printf 'a \033[31mred\033[0m \033]0;owned\007 b\033[1A\033[2K\r c\n'", None),
    "quick": ("echo ok", None),
}


@dataclass
class RemoteServer:
    base: str
    database_url: str
    directory: Path
    objects: dict[str, str] = field(default_factory=dict)
    operations: dict[str, str] = field(default_factory=dict)
    link: str = ""
    viewer_id: str = ""

    def client(self, who: tuple[str, str] = ADMIN, **options) -> Client:
        login, password = who
        return Client(self.base, login=login, password=password, **options)

    def env(self, who: tuple[str, str] | None = ADMIN, **extra: str) -> dict[str, str]:
        """The environment of a remote command: the server and these credentials, and an
        empty configuration directory (never the user's own file)."""
        config_home = self.directory / "config-home"
        config_home.mkdir(exist_ok=True)
        values = {"OPSJOBS_URL": self.base, "XDG_CONFIG_HOME": str(config_home)}
        if who is not None:
            values |= {"OPSJOBS_USER": who[0], "OPSJOBS_PASSWORD": who[1]}
        return cli_env(**values, **extra)


async def _users(database_url: str) -> str:
    store = Store(database_url)
    await store.open()
    try:
        hasher = Passwords(time_cost=1, memory_kib=8)
        for login, password in (ADMIN, VIEWER):
            log_secrets.register_password(login, password)
        await users.create_user(
            store,
            login=ADMIN[0],
            password_hash=hasher.hash(ADMIN[1]),
            permissions=list(PERMISSIONS),
            include=["1"],
        )
        viewer = await users.create_user(
            store,
            login=VIEWER[0],
            password_hash=hasher.hash(VIEWER[1]),
            permissions=["execute-operations"],
        )
        return viewer["id"]
    finally:
        await store.close()


def _arrange(server: RemoteServer) -> None:
    """Objects, a link and operations, made through the client itself."""
    with server.client() as admin:
        site = admin.create_entity("object", {"name": "site"})["id"]
        web = admin.create_entity("object", {"name": "web-1", "parent_id": site})["id"]
        db = admin.create_entity("object", {"name": "db-1", "parent_id": [site]})["id"]
        hidden = admin.create_entity("object", {"name": "hidden"})["id"]
        server.objects = {"site": site, "web-1": web, "db-1": db, "hidden": hidden}
        server.link = admin.create_entity("link", {"source": web, "target": db})["id"]
        for name, (text, arguments) in OPERATIONS.items():
            parameters = {"type": "scriptText", "text": text}
            if arguments:
                parameters["arguments"] = arguments
            operation = {"name": name, "type": 2, "parameters": parameters}
            server.operations[name] = admin.create_operation("object", web, operation)["id"]
        admin.update_entity("user", server.viewer_id, {"objectPermissions": {"include": [site]}})


@contextlib.contextmanager
def remote_server(database_url: str, directory: Path) -> Iterator[RemoteServer]:
    """A migrated database at ``database_url``, served; arranged as above."""
    migrated = run_cli("migrate", "--database-url", database_url)
    assert migrated.returncode == 0, migrated.stderr
    viewer_id = asyncio.run(_users(database_url))
    with running_server(database_url) as (base, _process):
        server = RemoteServer(base, database_url, directory, viewer_id=viewer_id)
        _arrange(server)
        yield server
