"""State history through the API (docs/api.md §18): ``GET /state-history`` holds only what
the caller may see, paged after that filter, and ``GET …/state-history`` one entity's, with
the rights and bounds of §2 and §18."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from helpers import assert_error
from helpers.states import state_world
from opsjobs.api.routes import states as state_routes
from opsjobs.domain.ids import new_id
from opsjobs.store.schema import state_history

ENTRY_KEYS = ["id", "entityId", "entityType", "stateId", "prevStateId", "timestamp", "reason"]


@pytest.fixture
async def world(api):
    return await state_world(api)


async def add_changes(api, rows: list[tuple[str, int, int]]) -> list[dict]:
    """History rows (entity, owner_type, timestamp), written as the store writes them."""
    made = []
    async with api.store.write() as conn:
        for n, (owner_id, owner_type, at) in enumerate(rows):
            row = {
                "id": new_id(),
                "owner_id": owner_id,
                "owner_type": owner_type,
                "state_id": 3 + n % 6,
                "prev_state_id": 1,
                "timestamp": at,
                "user_id": None,
                "job_id": None,
            }
            await conn.execute(insert(state_history).values(**row))
            made.append(row)
    return made


def entry(row: dict) -> dict:
    return {
        "id": row["id"],
        "entityId": row["owner_id"],
        "entityType": row["owner_type"],
        "stateId": row["state_id"],
        "prevStateId": row["prev_state_id"],
        "timestamp": row["timestamp"],
        "reason": {"by": row["user_id"], "job": row["job_id"]},
    }


async def test_a_change_is_an_entry_of_both_lists(api, backend, world):
    ids, admin = world["ids"], world["users"]["admin"]
    object_id = ids["object"]
    response = await api.client.put(
        f"/node/api/objects/{object_id}/state", json={"state_id": 5}, headers=admin
    )
    changed_at = response.json()["last_state_update"]
    own = (
        await api.client.get(f"/node/api/objects/{object_id}/state-history", headers=admin)
    ).json()
    assert [list(e) for e in own] == [ENTRY_KEYS, ENTRY_KEYS]
    newest, first = own
    admin_id = api.store.directory.by_login["admin"]
    assert newest | {"id": "-"} == {
        "id": "-",
        "entityId": object_id,
        "entityType": 1,
        "stateId": 5,
        "prevStateId": 1,
        "timestamp": changed_at,
        "reason": {"by": admin_id, "job": None},
    }
    # Creating the entity recorded its first state.
    assert first["stateId"] == 1 and first["prevStateId"] is None
    assert first["reason"] == {"by": None, "job": None}
    everything = (await api.client.get("/node/api/state-history", headers=admin)).json()
    assert everything[0] == newest
    link = (
        await api.client.get(f"/node/api/links/{ids['link']}/state-history", headers=admin)
    ).json()
    assert [(e["entityType"], e["stateId"]) for e in link] == [(2, 1)]


@pytest.mark.parametrize("named", [True, False], ids=["owners-named", "rows-scanned"])
async def test_the_global_list_pages_after_leaving_out_what_the_caller_may_not_see(
    api, backend, world, monkeypatch, named
):
    ids, users = world["ids"], world["users"]
    # A small batch, so that a page is gathered across many reads; and either the few
    # entities the viewer sees are named to the database, or every row is read and those
    # out of sight are left out here.
    monkeypatch.setattr(state_routes, "HISTORY_BATCH", 3)
    monkeypatch.setattr(state_routes, "OWNER_LIST_MAX", 1000 if named else 0)
    seen = [(ids["object"], 1), (ids["link"], 2), (ids["other"], 1)]
    unseen = [(ids["hidden_object"], 1), (ids["hidden_link"], 2)]
    plan, base = [], 2_000_000_000_000
    for n in range(30):
        # Runs of hidden rows between visible ones, longer than a batch.
        owner = unseen[n % 2] if n % 5 else seen[n % 3]
        plan.append((*owner, base + n))
    rows = await add_changes(api, plan)
    visible_ids = {o for o, _ in seen} | {ids["site"], "1"}
    newest = [entry(r) for r in reversed(rows) if r["owner_id"] in visible_ids]
    viewer = users["viewer"]

    async def listed(**params) -> list[dict]:
        response = await api.client.get("/node/api/state-history", params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return response.json()

    window = {"from": base, "to": base + 29}
    assert await listed(**window) == newest[:6]  # 6 visible among 30
    assert await listed(**window, limit=2) == newest[:2]
    assert await listed(**window, limit=2, skip=2) == newest[2:4]
    assert await listed(**window, limit=10, skip=5) == newest[5:]
    assert await listed(**window, skip=6) == []
    assert await listed(**window, limit=0) == []
    # Without a window the entities' first states are there too, after these.
    whole = await listed(limit=1000)
    assert whole[:6] == newest
    assert {e["entityId"] for e in whole} <= visible_ids
    assert {ids["hidden_object"], ids["hidden_link"]}.isdisjoint(e["entityId"] for e in whole)
    # from and to are inclusive.
    assert await listed(**{"from": base + 5, "to": base + 15}) == [
        e for e in newest if base + 5 <= e["timestamp"] <= base + 15
    ]
    # A caller who sees nothing gets nothing; the admin sees all of it.
    assert (
        await api.client.get("/node/api/state-history", params=window, headers=users["outsider"])
    ).json() == []
    admin_view = await api.client.get(
        "/node/api/state-history", params={**window, "limit": 100}, headers=users["admin"]
    )
    assert admin_view.json() == [entry(r) for r in reversed(rows)]


async def test_the_default_page_is_ten(api, backend, world):
    ids, admin = world["ids"], world["users"]["admin"]
    rows = await add_changes(api, [(ids["object"], 1, 2_000_000_000_000 + n) for n in range(12)])
    response = await api.client.get(
        f"/node/api/objects/{ids['object']}/state-history", headers=admin
    )
    assert response.json() == [entry(r) for r in reversed(rows)][:10]
    second = await api.client.get(
        f"/node/api/objects/{ids['object']}/state-history", params={"skip": 10}, headers=admin
    )
    assert [e["id"] for e in second.json()][:2] == [rows[1]["id"], rows[0]["id"]]
    assert second.json()[-1]["prevStateId"] is None  # then the first state, at creation


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_one_entitys_history_rights(api, backend, world, kind):
    ids, users = world["ids"], world["users"]
    entity_id, hidden_id = ids[kind], ids[f"hidden_{kind}"]
    label = kind.capitalize()
    path = f"/node/api/{kind}s/{{}}/state-history"
    assert_error(await api.client.get(path.format(entity_id)), 401, "Unauthorized")
    # Sight is enough (SAYMON: objectPermissions).
    assert (
        await api.client.get(path.format(entity_id), headers=users["viewer"])
    ).status_code == 200
    for who, target in (
        ("viewer", hidden_id),
        ("outsider", entity_id),
        ("admin", "0123456789abcdef01234567"),
        ("admin", "not-an-id"),
    ):
        response = await api.client.get(path.format(target), headers=users[who])
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: {label}({target})")


async def test_a_deleted_entitys_history_stays_for_its_managers(api, backend, world):
    ids, users = world["ids"], world["users"]
    admin = users["admin"]
    manager = await api.user("manager", permissions=["manage-objects"], include=[ids["site"]])
    doomed = await api.object("doomed", ids["site"])
    await api.client.put(f"/node/api/objects/{doomed}/state", json={"state_id": 6}, headers=admin)
    assert (
        await api.client.delete(f"/node/api/objects/{doomed}", headers=admin)
    ).status_code == 200
    path = f"/node/api/objects/{doomed}/state-history"
    kept = await api.client.get(path, headers=manager)
    assert [e["stateId"] for e in kept.json()] == [6, 1]
    assert_error(
        await api.client.get(path, headers=users["viewer"]),
        404,
        "ResourceNotFound",
        f"Entity not found: Object({doomed})",
    )
    listed = await api.client.get("/node/api/state-history", headers=users["viewer"])
    assert doomed not in {e["entityId"] for e in listed.json()}
    listed = await api.client.get("/node/api/state-history", headers=manager)
    assert doomed in {e["entityId"] for e in listed.json()}


async def test_one_objects_history_by_discovery_id(api, backend, world):
    admin = world["users"]["admin"]
    created = await api.client.post(
        "/node/api/objects", json={"name": "d", "discovery_id": "x:1", "state_id": 4}, headers=admin
    )
    object_id = created.json()["id"]
    response = await api.client.get(
        "/node/api/objects/discovery%20id:x:1/state-history", headers=admin
    )
    assert [(e["entityId"], e["stateId"]) for e in response.json()] == [(object_id, 4)]
    missing = await api.client.get(
        "/node/api/objects/discovery%20id:none/state-history", headers=admin
    )
    assert_error(missing, 404, "ResourceNotFound", "Entity not found: Object(discovery id:none)")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 1001}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"limit": 2**64}, "limit"),
        ({"skip": -1}, "skip"),
        ({"skip": 100_001}, "skip"),
        ({"from": -1}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": 2**63}, "to"),
        ({"to": "1e3"}, "to"),
    ],
)
@pytest.mark.parametrize("where", ["all", "object", "link"])
async def test_bad_paging_is_400_naming_the_parameter(api, backend, world, params, name, where):
    path = (
        "/node/api/state-history"
        if where == "all"
        else f"/node/api/{where}s/{world['ids'][where]}/state-history"
    )
    response = await api.client.get(path, params=params, headers=world["users"]["admin"])
    assert_error(response, 400, "BadRequest", contains=(f"{name}:",))
