"""Setting an object's or a link's state (docs/api.md §18): ``PUT …/state`` answers the
entity as ``GET`` does, records the change once, and is refused in the order of §2."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import assert_error
from helpers.states import state_world
from opsjobs.domain.values import INT32_MAX
from opsjobs.store.schema import state_history

MODIFY = {"object": "modify-objects", "link": "modify-links"}


@pytest.fixture
async def world(api):
    return await state_world(api)


def state_url(kind: str, entity_id: str) -> str:
    return f"/node/api/{kind}s/{entity_id}/state"


async def changes_of(api, entity_id: str) -> list[tuple]:
    async with api.store.read() as conn:
        rows = await conn.execute(
            select(state_history.c.state_id, state_history.c.prev_state_id, state_history.c.user_id)
            .where(state_history.c.owner_id == entity_id)
            .order_by(state_history.c.timestamp, state_history.c.id)
        )
        return [tuple(r) for r in rows]


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_put_state_answers_the_entity_and_records_the_change(api, backend, world, kind):
    entity_id, headers = world["ids"][kind], world["users"]["modifier"]
    before = (await api.client.get(f"/node/api/{kind}s/{entity_id}", headers=headers)).json()
    response = await api.client.put(
        state_url(kind, entity_id), json={"state_id": 4}, headers=headers
    )
    assert response.status_code == 200, response.text
    after = (await api.client.get(f"/node/api/{kind}s/{entity_id}", headers=headers)).json()
    assert response.json() == after
    assert after["state_id"] == 4
    assert after["last_state_update"] >= before["last_state_update"]
    assert list(after) == list(before)  # the same document, field for field
    user_id = api.store.directory.by_login["modifier"]
    assert await changes_of(api, entity_id) == [(1, None, None), (4, 1, user_id)]

    # The same state again is no change: nothing recorded, the time of the last change kept.
    again = await api.client.put(state_url(kind, entity_id), json={"state_id": 4}, headers=headers)
    assert again.status_code == 200
    assert again.json()["last_state_update"] == after["last_state_update"]
    assert len(await changes_of(api, entity_id)) == 2

    # PATCH of state_id is a change like any other, with its author.
    patched = await api.client.patch(
        f"/node/api/{kind}s/{entity_id}", json={"state_id": 5}, headers=headers
    )
    assert patched.status_code == 200 and patched.json()["state_id"] == 5
    assert (await changes_of(api, entity_id))[-1] == (5, 4, user_id)


async def test_put_state_takes_a_discovery_id(api, backend, world):
    admin = world["users"]["admin"]
    created = await api.client.post(
        "/node/api/objects", json={"name": "d", "discovery_id": "host:7"}, headers=admin
    )
    object_id = created.json()["id"]
    response = await api.client.put(
        "/node/api/objects/discovery%20id:host:7/state", json={"state_id": 8}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == object_id and response.json()["state_id"] == 8
    missing = await api.client.put(
        "/node/api/objects/discovery%20id:nothing/state", json={"state_id": 8}, headers=admin
    )
    assert_error(missing, 404, "ResourceNotFound", "Entity not found: Object(discovery id:nothing)")


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_put_state_rights(api, backend, world, kind):
    ids, users = world["ids"], world["users"]
    entity_id, hidden_id = ids[kind], ids[f"hidden_{kind}"]
    label = kind.capitalize()
    body = {"state_id": 5}
    anonymous = await api.client.put(state_url(kind, entity_id), json=body)
    assert_error(anonymous, 401, "Unauthorized")
    refused = await api.client.put(state_url(kind, entity_id), json=body, headers=users["viewer"])
    assert_error(
        refused, 403, "Forbidden", f"Required permissions: {MODIFY[kind]} or manage-{kind}s"
    )
    # Out of sight: a 404 whatever the permissions, word for word as for nothing at all.
    for who, target in (("modifier", hidden_id), ("outsider", entity_id), ("viewer", hidden_id)):
        response = await api.client.put(state_url(kind, target), json=body, headers=users[who])
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: {label}({target})")
    missing = "0123456789abcdef01234567"
    response = await api.client.put(state_url(kind, missing), json=body, headers=users["admin"])
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: {label}({missing})")
    # Nothing changed by any refusal.
    assert [c[0] for c in await changes_of(api, entity_id)] == [1]
    assert [c[0] for c in await changes_of(api, hidden_id)] == [1]


@pytest.mark.parametrize("kind", ["object", "link"])
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"state_id": 0},
        {"state_id": -1},
        {"state_id": INT32_MAX + 1},
        {"state_id": 2**63},
        {"state_id": "4"},
        {"state_id": 4.0},
        {"state_id": None},
        {"state_id": True},
        {"state_id": [4]},
        {"state_id": 4, "comment": "x"},
    ],
)
async def test_put_state_refuses_what_is_not_a_state(api, backend, world, kind, body):
    entity_id = world["ids"][kind]
    response = await api.client.put(
        state_url(kind, entity_id), json=body, headers=world["users"]["admin"]
    )
    field = "comment" if "comment" in body else "state_id"
    assert_error(response, 400, "BadRequest", contains=(f"{field}:",))
    assert [c[0] for c in await changes_of(api, entity_id)] == [1]


async def test_put_state_refuses_bodies_that_are_not_objects(api, backend, world):
    url, admin = state_url("object", world["ids"]["object"]), world["users"]["admin"]
    for content in (b"[4]", b"4", b'"x"', b"", b"{", b'{"state_id": 1e400}'):
        response = await api.client.put(url, content=content, headers=admin)
        assert response.status_code == 400, (content, response.text)


async def test_the_widest_state_is_kept(api, backend, world):
    url, admin = state_url("link", world["ids"]["link"]), world["users"]["admin"]
    response = await api.client.put(url, json={"state_id": INT32_MAX}, headers=admin)
    assert response.status_code == 200 and response.json()["state_id"] == INT32_MAX
