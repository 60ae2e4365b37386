"""The 0005 migration: the root gets SAYMON's class Root ("1"), and entities made without a
last_state_update get their creation time; nothing else changes."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.execution import opened_store
from helpers.migrations import database_at
from opsjobs.domain.ids import new_id
from opsjobs.store import entities
from opsjobs.store.db import Database, normalize_url
from opsjobs.store.migrate import current_revision, head_revision, upgrade

PREVIOUS_HEAD = "0004_entity_model"


async def _seed(url: str) -> dict[str, str]:
    """Objects and a link as the previous schema may hold them: without last_state_update,
    with one, with and without a class."""
    ids = {name: new_id() for name in ("bare", "stated", "link")}
    engine = create_async_engine(normalize_url(url))
    insert = text(
        "INSERT INTO objects (id, name, class_id, last_state_update, created, updated) "
        "VALUES (:id, :name, :class_id, :at, 5, 6)"
    )
    async with engine.begin() as conn:
        await conn.execute(
            insert, {"id": ids["bare"], "name": "bare", "class_id": None, "at": None}
        )
        await conn.execute(insert, {"id": ids["stated"], "name": "s", "class_id": "3", "at": 9})
        await conn.execute(
            text("INSERT INTO object_parents (object_id, parent_id, position) VALUES (:o, '1', 0)"),
            [{"o": ids["bare"]}, {"o": ids["stated"]}],
        )
        await conn.execute(
            text(
                "INSERT INTO links (id, name, source, target, created, updated) "
                "VALUES (:id, 'l', :s, :t, 7, 8)"
            ),
            {"id": ids["link"], "s": ids["bare"], "t": ids["stated"]},
        )
    await engine.dispose()
    return ids


async def test_upgrade_gives_the_root_its_class_and_every_entity_a_state_time(backend, tmp_path):
    async with database_at(backend, tmp_path, PREVIOUS_HEAD) as url:
        ids = await _seed(url)
        database = Database(url)
        await upgrade(database)
        async with database.reader.connect() as conn:
            assert await current_revision(conn) == head_revision()
        await database.dispose()
        async with opened_store(url) as store:
            root = await entities.object_document(store, "1")
            bare = await entities.object_document(store, ids["bare"])
            stated = await entities.object_document(store, ids["stated"])
            link = await entities.link_document(store, ids["link"])
    assert root["class_id"] == "1"  # SAYMON's standard class Root
    assert root["last_state_update"] == root["created"]
    assert (bare["class_id"], bare["last_state_update"]) == (None, 5)  # only the root's class
    assert (stated["class_id"], stated["last_state_update"]) == ("3", 9)  # kept as it was
    assert link["last_state_update"] == 7


async def test_a_new_database_has_the_root_of_class_root(api, backend):
    admin = await api.admin()
    root = (await api.client.get("/node/api/objects/1", headers=admin)).json()
    assert root["class_id"] == "1"
    assert isinstance(root["last_state_update"], int)
    assert root["last_state_update"] == root["created"]
