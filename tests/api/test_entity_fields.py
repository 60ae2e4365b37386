"""SAYMON's object and link fields (docs/api.md §11): stored and returned, refused by name
when unknown, read-only or of the wrong type; class_id as number or string; create by
discovery_id as an upsert and objects addressed by discovery ID; child_ids and
child_link_ids kept right through create, move and delete, and filtered by sight."""

from __future__ import annotations

import pytest

from helpers import assert_error
from opsjobs.domain.values import MAX_DEPTH

OBJECTS = "/node/api/objects"
NO_TAG = "5f1150e0786952333e048898"


async def post(api, headers, body: dict, url: str = OBJECTS):
    return await api.client.post(url, json=body, headers=headers)


async def created(api, headers, **body) -> dict:
    response = await post(api, headers, body)
    assert response.status_code == 200, response.text
    return response.json()


async def fetched(api, headers, object_ref: str) -> dict:
    response = await api.client.get(f"{OBJECTS}/{object_ref}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


SAYMON_FIELDS = {
    "discovery_id": "ext-42",
    "client_data": '{"dim": [10, 20]}',
    "background": "image-1",
    "geoposition": [37.6, 55.7],
    "geopositionRadius": 300,
    "manual_state": {"state_id": 4, "comment": "maintenance"},
    "object_groups": ["5f1150e0786952333e048898"],
    "weight": 7,
}


async def test_every_saymon_field_is_stored_and_returned(api, backend):
    admin = await api.admin()
    document = await created(api, admin, name="web-1", **SAYMON_FIELDS)
    for field, value in SAYMON_FIELDS.items():
        assert document[field] == value, field
    assert await fetched(api, admin, document["id"]) == document
    # PATCH stores every one of them too, and null clears those that may be empty.
    changes = {
        "client_data": {"dim": [1, 2]},
        "background": None,
        "geoposition": [],
        "geopositionRadius": None,
        "manual_state": None,
        "object_groups": [],
        "weight": 2,
        "discovery_id": None,
        "owner_id": None,
    }
    response = await api.client.patch(f"{OBJECTS}/{document['id']}", json=changes, headers=admin)
    assert response.status_code == 200, response.text
    for field, value in changes.items():
        assert response.json()[field] == value, field
    assert await fetched(api, admin, document["id"]) == response.json()


async def test_a_state_given_at_creation_is_kept(api, backend):
    admin = await api.admin()
    document = await created(api, admin, name="down", state_id=5)
    assert document["state_id"] == 5
    assert document["last_state_update"] == document["created"]
    a, b = await api.object("a"), await api.object("b")
    body = {"source": a, "target": b, "state_id": 3}
    link = (await post(api, admin, body, "/node/api/links")).json()
    assert link["state_id"] == 3 and link["last_state_update"] == link["created"]
    response = await post(api, admin, {"name": "x", "state_id": None})
    assert_error(response, 400, "BadRequest", "state_id: must not be null")


async def test_the_creator_owns_a_new_object_unless_another_owner_is_named(api):
    admin = await api.admin()
    creator_id = api.store.directory.principal_by_login("admin").id
    assert (await created(api, admin, name="mine"))["owner_id"] == creator_id
    other = "5f1150e0786952333e048898"
    assert (await created(api, admin, name="theirs", owner_id=other))["owner_id"] == other


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"nonsense": 1}, "nonsense: unknown field"),
        ({"Name": "x"}, "Name: unknown field"),
        ({"child_ids": []}, "child_ids: read-only"),
        ({"created": 1}, "created: read-only"),
        ({"id": "abc"}, "id: read-only"),
        ({"last_state_update": 1}, "last_state_update: read-only"),
        ({"weight": "7"}, "weight:"),
        ({"weight": 2**31}, "weight:"),
        ({"geoposition": [1.0]}, "geoposition:"),
        ({"geoposition": [200.0, 10.0]}, "geoposition.0:"),
        ({"geoposition": [10.0, 95.0]}, "geoposition:"),
        ({"geopositionRadius": -1}, "geopositionRadius:"),
        ({"tags": "t"}, "tags:"),
        ({"tags": [NO_TAG]}, f"tags: no such tag {NO_TAG}"),
        ({"class_id": 0}, "class_id"),
        ({"class_id": "a" * 25}, "class_id"),
        ({"class_id": "bad id"}, "class_id"),
        ({"owner_id": "x" * 25}, "owner_id:"),
        ({"discovery_id": "a\u202eb"}, "discovery_id:"),
        ({"discovery_id": "x" * 256}, "discovery_id:"),
        ({"background": "x" * 4097}, "background:"),
        ({"weight": None}, "weight: must not be null"),
        ({"tags": None}, "tags: must not be null"),
        ({"properties": None}, "properties: must not be null"),
        ({"manual_state": "on"}, "manual_state:"),
        ({"operations": []}, "operations: changed through the entity's /operations routes"),
    ],
)
async def test_patch_refuses_what_it_cannot_store_by_name(api, body, named):
    admin = await api.admin()
    target = await created(api, admin, name="x")
    response = await api.client.patch(f"{OBJECTS}/{target['id']}", json=body, headers=admin)
    error = assert_error(response, 400, "BadRequest")
    assert named in error["message"], error
    assert await fetched(api, admin, target["id"]) == target  # nothing changed


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"name": "x", "surprise": True}, "surprise: unknown field"),
        ({"name": "x", "child_link_ids": []}, "child_link_ids: read-only"),
        ({"name": "x", "weight": 1.5}, "weight:"),
        ({"name": "x", "tags": None}, "tags: must not be null"),
    ],
)
async def test_create_refuses_what_it_cannot_store_by_name(api, body, named):
    admin = await api.admin()
    error = assert_error(await post(api, admin, body), 400, "BadRequest")
    assert named in error["message"], error
    assert [o["name"] for o in (await api.client.get(OBJECTS, headers=admin)).json()] == ["Root"]


async def test_link_fields_and_unknown_ones(api, backend):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    body = {"source": a, "target": b, "weight": 3, "client_data": "cd", "class_id": 12}
    link = (await post(api, admin, body, "/node/api/links")).json()
    assert (link["weight"], link["client_data"], link["class_id"]) == (3, "cd", "12")
    assert (link["source_name"], link["target_name"]) == ("a", "b")
    url = f"/node/api/links/{link['id']}"
    response = await api.client.patch(url, json={"source_name": "z"}, headers=admin)
    assert_error(response, 400, "BadRequest", "source_name: read-only, set by the server")
    response = await api.client.patch(url, json={"bandwidth": 1}, headers=admin)
    assert_error(response, 400, "BadRequest", "bandwidth: unknown field")
    response = await api.client.patch(url, json={"manual_state": {"s": 1}}, headers=admin)
    assert response.json()["manual_state"] == {"s": 1}


async def test_deep_or_oversized_client_data_is_400_naming_where(api):
    admin = await api.admin()
    target = await created(api, admin, name="x")
    deep = b'{"client_data": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}"
    response = await api.client.patch(f"{OBJECTS}/{target['id']}", content=deep, headers=admin)
    error = assert_error(response, 400, "BadRequest")
    assert error["message"].startswith("client_data.0.0") and "nested deeper" in error["message"]
    huge = {"client_data": "x" * (2 * 1024 * 1024)}
    response = await api.client.patch(f"{OBJECTS}/{target['id']}", json=huge, headers=admin)
    assert_error(response, 413, "PayloadTooLarge")
    nul = {"client_data": {"k": "a\0b"}}
    response = await api.client.patch(f"{OBJECTS}/{target['id']}", json=nul, headers=admin)
    assert_error(response, 400, "BadRequest", contains=("client_data.k",))


# -- class_id -------------------------------------------------------------------------------


async def test_class_id_as_integer_or_string(api, backend):
    admin = await api.admin()
    host = await created(api, admin, name="host", class_id=3)
    assert host["class_id"] == "3"
    agent = await created(api, admin, name="agent", class_id="2")
    assert agent["class_id"] == "2"
    custom = await created(api, admin, name="custom", class_id="5f1150e0786952333e048898")
    assert custom["class_id"] == "5f1150e0786952333e048898"
    moved = await api.client.patch(f"{OBJECTS}/{agent['id']}", json={"class_id": 4}, headers=admin)
    assert moved.json()["class_id"] == "4"
    listed = {o["id"]: o for o in (await api.client.get(OBJECTS, headers=admin)).json()}
    assert listed[host["id"]]["class_id"] == "3"


# -- parent_id ------------------------------------------------------------------------------


async def test_parent_id_as_string_or_array_and_child_ids_follow(api, backend):
    admin = await api.admin()
    a = await created(api, admin, name="a")
    b = await created(api, admin, name="b", parent_id="1")
    x = await created(api, admin, name="x", parent_id=a["id"])
    y = await created(api, admin, name="y", parent_id=[a["id"], b["id"]])
    assert (await fetched(api, admin, a["id"]))["child_ids"] == [x["id"], y["id"]]
    assert (await fetched(api, admin, b["id"]))["child_ids"] == [y["id"]]
    assert (await fetched(api, admin, "1"))["child_ids"] == [a["id"], b["id"]]
    # A link inside a: both ends are children of a.
    link = (
        await post(api, admin, {"source": x["id"], "target": y["id"]}, "/node/api/links")
    ).json()
    assert (await fetched(api, admin, a["id"]))["child_link_ids"] == [link["id"]]
    assert (await fetched(api, admin, b["id"]))["child_link_ids"] == []

    # Move x under b: a loses it and the link, b gains both.
    await api.client.patch(f"{OBJECTS}/{x['id']}", json={"parent_id": b["id"]}, headers=admin)
    assert (await fetched(api, admin, a["id"]))["child_ids"] == [y["id"]]
    assert (await fetched(api, admin, a["id"]))["child_link_ids"] == []
    assert (await fetched(api, admin, b["id"]))["child_ids"] == [x["id"], y["id"]]
    assert (await fetched(api, admin, b["id"]))["child_link_ids"] == [link["id"]]

    # Delete x: it and its link leave b.
    assert (await api.client.delete(f"{OBJECTS}/{x['id']}", headers=admin)).status_code == 200
    after = await fetched(api, admin, b["id"])
    assert (after["child_ids"], after["child_link_ids"]) == ([y["id"]], [])
    listed = {o["id"]: o for o in (await api.client.get(OBJECTS, headers=admin)).json()}
    assert listed[b["id"]]["child_ids"] == [y["id"]]
    assert listed[a["id"]]["child_ids"] == [y["id"]]


async def test_child_ids_and_link_names_show_only_what_the_caller_sees(api, backend):
    admin = await api.admin()
    parent = await created(api, admin, name="parent")
    seen = await created(api, admin, name="seen", parent_id=parent["id"])
    hidden = await created(api, admin, name="hidden", parent_id=parent["id"])
    link = (
        await post(api, admin, {"source": seen["id"], "target": hidden["id"]}, "/node/api/links")
    ).json()
    viewer = await api.user("viewer", "pw", [], [parent["id"], link["id"]], [hidden["id"]])
    document = await fetched(api, viewer, parent["id"])
    assert document["child_ids"] == [seen["id"]]
    assert document["child_link_ids"] == [link["id"]]  # included by its own ID
    shown = (await api.client.get(f"/node/api/links/{link['id']}", headers=viewer)).json()
    assert (shown["source_name"], shown["target_name"]) == ("seen", None)
    listed = (await api.client.get("/node/api/links", headers=viewer)).json()
    assert [(lk["source_name"], lk["target_name"]) for lk in listed] == [("seen", None)]


# -- discovery IDs --------------------------------------------------------------------------


async def test_create_by_discovery_id_is_an_upsert(api, backend):
    admin = await api.admin()
    first = await created(api, admin, name="router", discovery_id="net-7", weight=2)
    again = await created(api, admin, name="router-7", discovery_id="net-7", class_id=3)
    assert again["id"] == first["id"]
    assert (again["name"], again["weight"], again["class_id"]) == ("router-7", 2, "3")
    names = [o["name"] for o in (await api.client.get(OBJECTS, headers=admin)).json()]
    assert sorted(names) == ["Root", "router-7"]
    operation = {"name": "op", "type": 1, "parameters": {"topic": "t", "message": "m"}}
    response = await post(
        api, admin, {"name": "r", "discovery_id": "net-7", "operations": [operation]}
    )
    assert_error(response, 400, "BadRequest", contains=("operations",))


async def test_upsert_needs_sight_and_modify_rights(api, backend):
    admin = await api.admin()
    a = await created(api, admin, name="a")
    b = await created(api, admin, name="b")
    hidden = await created(api, admin, name="hidden", parent_id=b["id"], discovery_id="d-1")
    creator = await api.user("creator", "pw", ["create-objects"], [a["id"]])
    # The existing object is out of sight: 404 naming the discovery ID, not the object.
    response = await post(api, creator, {"name": "x", "parent_id": a["id"], "discovery_id": "d-1"})
    assert_error(response, 404, "ResourceNotFound", "Entity not found: Object(discovery id:d-1)")
    assert hidden["id"] not in response.text
    mine = await created(api, creator, name="mine", parent_id=a["id"], discovery_id="d-2")
    response = await post(api, creator, {"name": "renamed", "discovery_id": "d-2"})
    assert_error(
        response, 403, "Forbidden", "Required permissions: modify-objects or manage-objects"
    )
    assert (await fetched(api, admin, mine["id"]))["name"] == "mine"


async def test_an_object_is_addressed_by_its_discovery_id(api, backend):
    admin = await api.admin()
    obj = await created(api, admin, name="db", discovery_id="Qwerty")
    ref = "discovery%20id:Qwerty"
    assert (await fetched(api, admin, ref))["id"] == obj["id"]
    response = await api.client.patch(f"{OBJECTS}/{ref}", json={"weight": 5}, headers=admin)
    assert response.json()["weight"] == 5 and response.json()["id"] == obj["id"]
    props = await api.client.post(
        f"{OBJECTS}/{ref}/props", json={"name": "ip", "value": "1"}, headers=admin
    )
    assert props.status_code == 200 and props.json()["owner_id"] == obj["id"]
    response = await api.client.get(f"{OBJECTS}/discovery%20id:nope", headers=admin)
    assert_error(response, 404, "ResourceNotFound", "Entity not found: Object(discovery id:nope)")
    outsider = await api.user("outsider", "pw", ["manage-objects"], [])
    response = await api.client.get(f"{OBJECTS}/{ref}", headers=outsider)
    assert_error(response, 404, "ResourceNotFound", "Entity not found: Object(discovery id:Qwerty)")
    assert (await api.client.delete(f"{OBJECTS}/{ref}", headers=admin)).status_code == 200
    response = await api.client.get(f"{OBJECTS}/{obj['id']}", headers=admin)
    assert response.status_code == 404


async def test_a_discovery_id_belongs_to_one_object(api, backend):
    admin = await api.admin()
    await created(api, admin, name="a", discovery_id="one")
    b = await created(api, admin, name="b")
    response = await api.client.patch(
        f"{OBJECTS}/{b['id']}", json={"discovery_id": "one"}, headers=admin
    )
    assert_error(response, 409, "Conflict", contains=("discovery_id",))
