"""The `opsjobs` console script, run for real as subprocesses on a temporary SQLite file.

What the commands write is checked through the API (an in-process app on the same file):
users log in with the password they were given and see what their rights say.
"""

from __future__ import annotations

import re
import sqlite3

from conftest import basic
from helpers import app_client, assert_error, run_cli, run_cli_parallel
from opsjobs.domain.ids import is_object_id, new_id


def one_line(text: str) -> str:
    """Console output without the wrapping and spacing a terminal width adds."""
    return re.sub(r"\s+", " ", text).strip()


def printed_id(result) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    value = result.stdout.strip().splitlines()[-1]
    assert is_object_id(value), result.stdout
    return value


def db_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'fresh.db'}"
    first = run_cli("migrate", "--database-url", url)
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stderr + first.stdout
    with sqlite3.connect(db_path(url)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"jobs", "users", "groups", "objects", "links", "alembic_version"} <= tables
        assert conn.execute("SELECT id FROM objects").fetchall() == [("1",)]
    again = run_cli("migrate", "--database-url", url)
    assert again.returncode == 0, again.stderr


def test_commands_refuse_an_unmigrated_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    serve, user = run_cli_parallel(
        ["serve", "--port", "1", "--database-url", url],
        ["user", "add", "x", "--password", "pw", "--database-url", url],
        timeout=60,
    )
    for result in (serve, user):
        assert result.returncode == 1, (result.args, result.stderr)
        message = one_line(result.stderr)
        assert "not migrated" in message and "opsjobs migrate" in message, message
        assert "Traceback" not in result.stderr


async def test_administration_through_the_cli(database_url):
    url = ["--database-url", database_url]
    site_id, other_id = new_id(), new_id()
    # Independent commands run side by side; each round needs the previous one.
    site, other = run_cli_parallel(
        ["object", "add", "site", "--id", site_id, *url],
        ["object", "add", "other", *url, "--id", other_id],
    )
    assert printed_id(site) == site_id and printed_id(other) == other_id
    host, multi = run_cli_parallel(
        ["object", "add", "host", "--parent", site_id, *url],
        ["object", "add", "multi", "--parent", site_id, "--parent", other_id, *url],
    )
    host_id, multi_id = printed_id(host), printed_id(multi)
    link, group = run_cli_parallel(
        ["link", "add", host_id, multi_id, "--name", "host → multi", *url],
        ["group", "add", "ops", "--permission", "manage-links", "--include", other_id, "--exclude", multi_id, *url],
    )  # fmt: skip
    link_id, ops_id = printed_id(link), printed_id(group)
    alice, gen = run_cli_parallel(
        [
            "user", "add", "alice", "--password", "alice-pw",
            "--permission", "modify-objects", "--permission", "execute-operations",
            "--include", site_id, "--exclude", host_id, *url,
        ],
        ["user", "add", "gen", "--generate", "--include", "1", "--group", "ops", *url],
    )  # fmt: skip
    alice_id, gen_id = printed_id(alice), printed_id(gen)
    generated = re.search(r"password for gen: (\S+)", one_line(gen.stderr + gen.stdout))
    assert generated, gen.stderr
    assert "alice-pw" not in alice.stdout + alice.stderr  # a given password is never echoed

    async with app_client(database_url) as api:
        admin = await api.admin()
        objects = {
            o["id"]: o for o in (await api.client.get("/node/api/objects", headers=admin)).json()
        }
        assert objects[site_id]["name"] == "site" and objects[site_id]["parent_id"] == ["1"]
        assert objects[host_id]["parent_id"] == [site_id]
        assert objects[multi_id]["parent_id"] == [site_id, other_id]
        link_doc = (await api.client.get(f"/node/api/links/{link_id}", headers=admin)).json()
        assert (link_doc["source"], link_doc["target"], link_doc["name"]) == (
            host_id,
            multi_id,
            "host → multi",
        )
        groups = (await api.client.get("/node/api/groups", headers=admin)).json()
        assert [(g["id"], g["name"], g["permissions"]) for g in groups] == [
            (ops_id, "ops", ["manage-links"])
        ]
        assert groups[0]["objectPermissions"] == {"include": [other_id], "exclude": [multi_id]}

        user = (await api.client.get(f"/node/api/users/{alice_id}", headers=admin)).json()
        assert user["login"] == "alice"
        assert user["permissions"] == ["modify-objects", "execute-operations"]
        assert user["objectPermissions"] == {"include": [site_id], "exclude": [host_id]}
        assert user["groups"] == []

        # alice: site minus host; multi through site; the link needs host, so not the link.
        headers = basic("alice", "alice-pw")
        seen = {
            o["id"] for o in (await api.client.get("/node/api/objects", headers=headers)).json()
        }
        assert seen == {site_id, multi_id}
        assert (await api.client.get("/node/api/links", headers=headers)).json() == []

        # gen: the root included, multi excluded by its group, and the group's permission;
        # logs in with the printed password.
        headers = basic("gen", generated.group(1))
        current = await api.client.get("/node/api/users/current", headers=headers)
        assert current.status_code == 200 and current.json()["id"] == gen_id
        assert current.json()["groups"] == [ops_id]
        seen = {
            o["id"] for o in (await api.client.get("/node/api/objects", headers=headers)).json()
        }
        assert seen == {"1", site_id, host_id, other_id}
        response = await api.client.patch(
            f"/node/api/links/{link_id}", json={"name": "x"}, headers=headers
        )
        assert_error(response, 404, "ResourceNotFound")  # its target, multi, is excluded
        response = await api.client.get("/node/api/users/current", headers=basic("gen", "nope"))
        assert_error(response, 401, "InvalidCredentials")


async def test_cli_refusals_are_clear_and_write_nothing(database_url):
    async with app_client(database_url) as api:
        await api.user("dup", "pw")
    url = ["--database-url", database_url]
    cases = [
        (["user", "add", "u1", "--password", "pw", "--generate", *url], 2, "exactly one of --password and --generate"),
        (["user", "add", "u3", "--password", "pw", "--permission", "fly", *url], 2, "unknown permission 'fly'"),
        (["user", "add", "u4", "--password", "pw", "--group", "nope", *url], 1, "Unknown group: nope"),
        (["user", "add", "dup", "--password", "pw", *url], 1, "already exists"),
        (["object", "add", "o", "--id", "not-an-id", *url], 2, "--id must be 24 hex digits"),
    ]  # fmt: skip
    results = run_cli_parallel(*[args for args, _, _ in cases])
    for (args, code, message), result in zip(cases, results, strict=True):
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert message in one_line(result.stderr + result.stdout), (args, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
    with sqlite3.connect(db_path(database_url)) as conn:
        assert conn.execute("SELECT login FROM users").fetchall() == [("dup",)]
        assert conn.execute("SELECT count(*) FROM objects").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM links").fetchone() == (0,)
