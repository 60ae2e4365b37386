"""The 0004 migration carries a database made at the previous head over: objects and links
get SAYMON's fields with their defaults, every property becomes a record with an ID, and
nothing else is lost (parents, links, operations)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.execution import opened_store
from helpers.migrations import database_at
from opsjobs.domain.ids import is_object_id, new_id
from opsjobs.store import entities
from opsjobs.store.db import Database, normalize_url
from opsjobs.store.migrate import current_revision, head_revision, upgrade

PREVIOUS_HEAD = "0003_user_profile"


@pytest.fixture
async def old_database(backend, tmp_path) -> AsyncIterator[str]:
    """An empty database at the previous head, on each backend."""
    async with database_at(backend, tmp_path, PREVIOUS_HEAD) as url:
        yield url


async def _seed(url: str) -> dict[str, str]:
    """Rows as the previous schema held them: properties as an object, as SAYMON's array
    (with a repeated name and junk), and none."""
    ids = {name: new_id() for name in ("host", "arrayed", "plain", "link", "operation")}
    engine = create_async_engine(normalize_url(url))
    insert_object = text(
        "INSERT INTO objects (id, name, class_id, properties, created, updated) "
        "VALUES (:id, :name, :class_id, :properties, 5, 6)"
    )
    async with engine.begin() as conn:
        for key, properties in (
            ("host", {"ip": "10.0.0.1", "port": 22}),
            ("arrayed", [{"name": "ip", "value": "x", "type_id": 3}, {"name": "ip"}, 7, {}]),
            ("plain", []),
        ):
            await conn.execute(
                insert_object,
                {
                    "id": ids[key],
                    "name": key,
                    "class_id": "3",
                    "properties": orjson.dumps(properties).decode(),
                },
            )
        await conn.execute(
            text("INSERT INTO object_parents (object_id, parent_id, position) VALUES (:o, :p, 0)"),
            [
                {"o": ids["host"], "p": "1"},
                {"o": ids["arrayed"], "p": ids["host"]},
                {"o": ids["plain"], "p": ids["host"]},
            ],
        )
        await conn.execute(
            text(
                "INSERT INTO links (id, name, source, target, properties, created, updated) "
                "VALUES (:id, 'l', :s, :t, :p, 5, 6)"
            ),
            {"id": ids["link"], "s": ids["arrayed"], "t": ids["plain"], "p": '{"bw": 10}'},
        )
        await conn.execute(
            text(
                "INSERT INTO operations (id, owner_kind, owner_id, name, type, parameters, "
                "created, updated) VALUES (:id, 'object', :owner, 'ping', 1, :p, 5, 6)"
            ),
            {"id": ids["operation"], "owner": ids["host"], "p": '{"topic": "t", "message": "m"}'},
        )
    await engine.dispose()
    return ids


def _values(document: dict) -> dict:
    return {p["name"]: (p["value"], p["type_id"]) for p in document["properties"]}


async def test_upgrade_from_the_previous_head_keeps_and_extends_entities(old_database):
    ids = await _seed(old_database)
    database = Database(old_database)
    await upgrade(database)
    async with database.reader.connect() as conn:
        assert await current_revision(conn) == head_revision()
    await database.dispose()

    async with opened_store(old_database) as store:
        host = await entities.object_document(store, ids["host"])
        arrayed = await entities.object_document(store, ids["arrayed"])
        plain = await entities.object_document(store, ids["plain"])
        link = await entities.link_document(store, ids["link"])

    # Properties became records with IDs; the first of a repeated name stays.
    assert _values(host) == {"ip": ("10.0.0.1", 1), "port": (22, 1)}
    assert _values(arrayed) == {"ip": ("x", 3)}
    assert plain["properties"] == []
    assert _values(link) == {"bw": (10, 1)}
    for record in host["properties"] + arrayed["properties"] + link["properties"]:
        assert is_object_id(record["id"])
    assert {p["owner_id"] for p in host["properties"]} == {ids["host"]}
    assert {p["owner_type"] for p in link["properties"]} == {2}

    # The new fields have their defaults; nothing old was lost.
    for document in (host, arrayed, plain):
        assert document["weight"] == 1 and document["tags"] == []
        assert document["geoposition"] == [] and document["object_groups"] == []
        assert document["discovery_id"] is None and document["owner_id"] is None
        assert (document["class_id"], document["created"], document["updated"]) == ("3", 5, 6)
    assert host["parent_id"] == ["1"]
    assert host["child_ids"] == sorted([ids["arrayed"], ids["plain"]])
    assert host["child_link_ids"] == [ids["link"]]
    assert arrayed["parent_id"] == [ids["host"]]
    assert [op["name"] for op in host["operations"]] == ["ping"]
    assert (link["source_name"], link["target_name"]) == ("arrayed", "plain")
    assert link["weight"] == 1 and link["tags"] == []


async def test_the_upgraded_database_takes_new_entities(old_database):
    database = Database(old_database)
    await upgrade(database)
    await database.dispose()
    async with opened_store(old_database) as store:
        made = await entities.create_object(
            store,
            name="new",
            parent_ids=["1"],
            properties=[{"name": "a", "value": "1"}],
            fields={"discovery_id": "ext-1", "tags": []},
        )
        assert made["discovery_id"] == "ext-1"
        assert await entities.object_id_by_discovery(store, "ext-1") == made["id"]
