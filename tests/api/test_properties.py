"""Properties as records (docs/api.md §11, "Properties"): the /props routes of objects and
links, their rights (sight, manage-properties or manage-objects / manage-links,
manage-service-properties), bad and hostile input, and the record of ReadWrite changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers import assert_error
from opsjobs.domain.ids import is_object_id, new_id
from opsjobs.domain.spec import MqttSpec, load_spec
from opsjobs.store.properties import property_changes_of
from opsjobs.store.schema import jobs

PROPERTY_KEYS = ["id", "name", "value", "type_id", "owner_id", "owner_type"]


def props_url(kind: str, entity_id: str, prop_id: str | None = None) -> str:
    base = f"/node/api/{kind}s/{entity_id}/props"
    return base if prop_id is None else f"{base}/{prop_id}"


@pytest.fixture
async def world(api):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link = await api.link(a, b)
    return {"admin": admin, "object": a, "other": b, "link": link}


async def add(api, headers, kind, entity_id, **body):
    return await api.client.post(props_url(kind, entity_id), json=body, headers=headers)


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_props_crud(api, backend, world, kind):
    admin, entity_id = world["admin"], world[kind]
    owner_type = 1 if kind == "object" else 2
    response = await add(api, admin, kind, entity_id, name="ip", value="10.0.0.1")
    assert response.status_code == 200, response.text
    record = response.json()
    assert list(record) == PROPERTY_KEYS  # the new property's ID first
    assert is_object_id(record["id"])
    assert record | {"id": "-"} == {
        "id": "-",
        "name": "ip",
        "value": "10.0.0.1",
        "type_id": 1,
        "owner_id": entity_id,
        "owner_type": owner_type,
    }
    second = (await add(api, admin, kind, entity_id, name="rw", value="1", type_id=3)).json()
    listed = (await api.client.get(props_url(kind, entity_id), headers=admin)).json()
    assert listed == [record, second]  # in the order added
    document = (await api.client.get(f"/node/api/{kind}s/{entity_id}", headers=admin)).json()
    assert document["properties"] == listed

    url = props_url(kind, entity_id, record["id"])
    changed = await api.client.patch(url, json={"value": "10.0.0.2"}, headers=admin)
    assert changed.json() == record | {"value": "10.0.0.2"}
    renamed = await api.client.patch(url, json={"name": "addr", "type_id": 2}, headers=admin)
    assert renamed.json() == record | {"value": "10.0.0.2", "name": "addr", "type_id": 2}

    deleted = await api.client.delete(url, headers=admin)
    assert deleted.status_code == 200 and deleted.content == b""
    listed = (await api.client.get(props_url(kind, entity_id), headers=admin)).json()
    assert [p["id"] for p in listed] == [second["id"]]
    for response in (
        await api.client.patch(url, json={"value": "x"}, headers=admin),
        await api.client.delete(url, headers=admin),
    ):
        assert_error(
            response, 404, "ResourceNotFound", f"Entity not found: Property({record['id']})"
        )


async def test_names_are_unique_per_entity(api, backend, world):
    admin, a, b = world["admin"], world["object"], world["other"]
    first = (await add(api, admin, "object", a, name="ip", value="1")).json()
    response = await add(api, admin, "object", a, name="ip", value="2")
    assert_error(response, 400, "BadRequest", "name: duplicate property name 'ip'")
    assert (await add(api, admin, "object", b, name="ip", value="3")).status_code == 200
    other = (await add(api, admin, "object", a, name="port", value="22")).json()
    response = await api.client.patch(
        props_url("object", a, other["id"]), json={"name": "ip"}, headers=admin
    )
    assert_error(response, 400, "BadRequest", "name: duplicate property name 'ip'")
    response = await api.client.patch(
        f"/node/api/objects/{a}",
        json={"properties": [{"name": "k", "value": "1"}, {"name": "k", "value": "2"}]},
        headers=admin,
    )
    assert_error(response, 400, "BadRequest", "properties: duplicate property name 'k'")
    listed = (await api.client.get(props_url("object", a), headers=admin)).json()
    assert listed == [first, other]
    # Replacing the set keeps the ID of a property that keeps its name.
    response = await api.client.patch(
        f"/node/api/objects/{a}",
        json={"properties": [{"name": "ip", "value": "9"}, {"name": "new", "value": "n"}]},
        headers=admin,
    )
    kept = {p["name"]: p for p in response.json()["properties"]}
    assert kept["ip"]["id"] == first["id"] and kept["ip"]["value"] == "9"
    assert kept["new"]["id"] not in (first["id"], other["id"])


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"value": "x"}, "name:"),
        ({"name": "", "value": "x"}, "name:"),
        ({"name": "a\nb", "value": "x"}, "name:"),
        ({"name": "a\u200bb", "value": "x"}, "name:"),
        ({"name": "n" * 256, "value": "x"}, "name:"),
        ({"name": "n", "value": {"nested": 1}}, "value:"),
        ({"name": "n", "value": ["a"]}, "value:"),
        ({"name": "n", "value": "v" * 65537}, "value:"),
        ({"name": "n", "value": "a\0b"}, "value:"),
        ({"name": "n", "value": "x", "type_id": "3"}, "type_id:"),
        ({"name": "n", "value": "x", "type_id": 0}, "type_id:"),
        ({"name": "n", "value": "x", "type_id": 2**31}, "type_id:"),
        ({"name": "n", "value": "x", "colour": "red"}, "colour: unknown field"),
        ({"name": "n", "value": "x", "id": "abc"}, "id: read-only"),
    ],
)
async def test_bad_and_hostile_properties_are_400_naming_them(api, world, body, named):
    admin, a = world["admin"], world["object"]
    response = await api.client.post(props_url("object", a), json=body, headers=admin)
    error = assert_error(response, 400, "BadRequest")
    assert named in error["message"], error
    assert (await api.client.get(props_url("object", a), headers=admin)).json() == []


async def test_a_number_or_boolean_value_is_kept(api, world):
    admin, a = world["admin"], world["object"]
    for value in (7, 1.5, True, None):
        response = await add(api, admin, "object", a, name=f"v{value}", value=value)
        assert response.json()["value"] == value


# -- rights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "manager"), [("object", "manage-objects"), ("link", "manage-links")]
)
async def test_changing_props_needs_manage_properties_or_the_kinds_manager(
    api, backend, world, kind, manager
):
    entity_id = world[kind]
    record = (await add(api, world["admin"], kind, entity_id, name="ip", value="1")).json()
    modifier = await api.user("modifier", "pw", [f"modify-{kind}s", "manage-users"], ["1"])
    expected = f"Required permissions: manage-properties or {manager}"
    for response in (
        await add(api, modifier, kind, entity_id, name="x", value="1"),
        await api.client.patch(
            props_url(kind, entity_id, record["id"]), json={"value": "2"}, headers=modifier
        ),
        await api.client.delete(props_url(kind, entity_id, record["id"]), headers=modifier),
    ):
        assert_error(response, 403, "Forbidden", expected)
    # Reading needs sight only.
    listed = await api.client.get(props_url(kind, entity_id), headers=modifier)
    assert listed.json() == [record]
    for permission in ("manage-properties", manager):
        headers = await api.user(f"with-{permission}", "pw", [permission], ["1"])
        response = await add(api, headers, kind, entity_id, name=permission, value="v")
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_props_of_an_entity_out_of_sight_are_404_like_the_entity(api, backend, world, kind):
    entity_id = world[kind]
    record = (await add(api, world["admin"], kind, entity_id, name="ip", value="1")).json()
    # Everything but what is out of sight: all permissions, sight of the other object only.
    outsider = await api.user(
        "outsider",
        "pw",
        ["manage-properties", "manage-objects", "manage-links", "manage-service-properties"],
        [world["other"]],
    )
    missing = f"Entity not found: {kind.capitalize()}({entity_id})"
    for response in (
        await api.client.get(props_url(kind, entity_id), headers=outsider),
        await add(api, outsider, kind, entity_id, name="x", value="1"),
        await api.client.patch(
            props_url(kind, entity_id, record["id"]), json={"value": "2"}, headers=outsider
        ),
        await api.client.delete(props_url(kind, entity_id, record["id"]), headers=outsider),
    ):
        assert_error(response, 404, "ResourceNotFound", missing)
    unknown = new_id()
    response = await api.client.get(props_url(kind, unknown), headers=world["admin"])
    assert_error(
        response, 404, "ResourceNotFound", f"Entity not found: {kind.capitalize()}({unknown})"
    )


async def test_a_property_of_another_entity_is_404(api, world):
    admin, a, b = world["admin"], world["object"], world["other"]
    record = (await add(api, admin, "object", a, name="ip", value="1")).json()
    response = await api.client.patch(
        props_url("object", b, record["id"]), json={"value": "2"}, headers=admin
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Property({record['id']})")


async def test_service_properties_need_manage_service_properties(api, backend, world):
    admin, a = world["admin"], world["object"]
    editor = await api.user("editor", "pw", ["manage-properties", "manage-objects"], ["1"])
    needed = "Required permissions: manage-service-properties"
    response = await add(api, editor, "object", a, name="probe", value="x", type_id=8)
    assert_error(response, 403, "Forbidden", needed)
    service = (await add(api, admin, "object", a, name="probe", value="x", type_id=8)).json()
    plain = (await add(api, editor, "object", a, name="plain", value="y")).json()
    for response in (
        await api.client.patch(
            props_url("object", a, service["id"]), json={"value": "z"}, headers=editor
        ),
        await api.client.delete(props_url("object", a, service["id"]), headers=editor),
        await api.client.patch(
            props_url("object", a, plain["id"]), json={"type_id": 8}, headers=editor
        ),
        await api.client.patch(
            f"/node/api/objects/{a}", json={"properties": {"plain": "y"}}, headers=editor
        ),
    ):
        assert_error(response, 403, "Forbidden", needed)
    listed = (await api.client.get(props_url("object", a), headers=admin)).json()
    assert listed == [service, plain]
    # Changing the others through the entity leaves a service property alone: allowed.
    response = await api.client.patch(
        f"/node/api/objects/{a}",
        json={
            "properties": [
                {"name": "probe", "value": "x", "type_id": 8},
                {"name": "plain", "value": "2"},
            ]
        },
        headers=editor,
    )
    assert response.status_code == 200, response.text


# Every way a request can bring a Service property into being: each needs
# manage-service-properties, whichever route carries it (docs/api.md §11, "Properties").
SERVICE = [{"name": "probe", "value": "x", "type_id": 8}]
SERVICE_PATHS = [
    "create object",
    "create object with a new discovery ID",
    "create object with a known discovery ID",
    "create link",
    "patch object",
    "patch link",
    "props of object",
    "props of link",
]


async def _bring_service_property(api, headers, world, path: str):
    a, b, link = world["object"], world["other"], world["link"]
    post, patch = api.client.post, api.client.patch
    if path == "create object":
        return await post(
            "/node/api/objects", json={"name": "n", "properties": SERVICE}, headers=headers
        )
    if path.startswith("create object with a"):
        discovery = "known-disc" if "known" in path else "fresh-disc"
        body = {"name": "n", "discovery_id": discovery, "properties": SERVICE}
        return await post("/node/api/objects", json=body, headers=headers)
    if path == "create link":
        body = {"source": a, "target": b, "properties": SERVICE}
        return await post("/node/api/links", json=body, headers=headers)
    if path.startswith("patch"):
        url = f"/node/api/objects/{a}" if "object" in path else f"/node/api/links/{link}"
        return await patch(url, json={"properties": SERVICE}, headers=headers)
    kind, entity_id = ("object", a) if "object" in path else ("link", link)
    return await add(api, headers, kind, entity_id, **SERVICE[0])


@pytest.mark.parametrize("path", SERVICE_PATHS)
async def test_no_route_brings_a_service_property_without_the_permission(api, backend, world, path):
    admin = world["admin"]
    await api.client.patch(
        f"/node/api/objects/{world['other']}", json={"discovery_id": "known-disc"}, headers=admin
    )
    every_other = [
        "manage-objects",
        "create-objects",
        "modify-objects",
        "manage-links",
        "create-links",
        "modify-links",
        "manage-properties",
    ]
    editor = await api.user("editor", "pw", every_other, ["1"])
    before_objects = (
        await api.client.get("/node/api/objects?fields=properties", headers=admin)
    ).json()
    before_links = (await api.client.get("/node/api/links?fields=properties", headers=admin)).json()
    response = await _bring_service_property(api, editor, world, path)
    assert_error(response, 403, "Forbidden", "Required permissions: manage-service-properties")
    # Nothing was made or changed.
    assert (
        await api.client.get("/node/api/objects?fields=properties", headers=admin)
    ).json() == before_objects
    assert (
        await api.client.get("/node/api/links?fields=properties", headers=admin)
    ).json() == before_links
    # The same request with the permission goes through: the refusal was for it alone.
    holder = await api.user("holder", "pw", [*every_other, "manage-service-properties"], ["1"])
    response = await _bring_service_property(api, holder, world, path)
    assert response.status_code == 200, response.text


# -- the ReadWrite change record ------------------------------------------------------------


async def test_a_read_write_change_is_recorded_once_whichever_route_made_it(api, backend, world):
    admin, a = world["admin"], world["object"]
    admin_id = api.store.directory.principal_by_login("admin").id
    rw = (await add(api, admin, "object", a, name="mode", value="auto", type_id=3)).json()
    info = (await add(api, admin, "object", a, name="note", value="n")).json()
    assert await property_changes_of(api.store, a) == []  # adding is not a change
    url = props_url("object", a, rw["id"])
    await api.client.patch(url, json={"value": "manual"}, headers=admin)
    await api.client.patch(url, json={"value": "manual"}, headers=admin)  # the same: no change
    await api.client.patch(props_url("object", a, info["id"]), json={"value": "m"}, headers=admin)
    await api.client.patch(
        f"/node/api/objects/{a}",
        json={
            "properties": [
                {"name": "mode", "value": "off", "type_id": 3},
                {"name": "note", "value": "m"},
            ]
        },
        headers=admin,
    )
    changes = await property_changes_of(api.store, a)
    assert [(c["old_value"], c["new_value"]) for c in changes] == [
        ("auto", "manual"),
        ("manual", "off"),
    ]
    assert {(c["property_id"], c["name"], c["owner_type"], c["user_id"]) for c in changes} == {
        (rw["id"], "mode", 1, admin_id)
    }


async def test_properties_still_feed_operation_templates(api, backend, world):
    admin, a = world["admin"], world["object"]
    await add(api, admin, "object", a, name="host", value="db-1")
    operation = {
        "name": "ping",
        "type": 1,
        "parameters": {"topic": "ops/{{properties.host}}", "message": "hello"},
    }
    created = await api.client.post(
        f"/node/api/objects/{a}/operations", json=operation, headers=admin
    )
    assert created.status_code == 200, created.text
    response = await api.client.post(
        f"/node/api/objects/{a}/operations/{created.json()['id']}/execute", json={}, headers=admin
    )
    assert response.status_code == 200, response.text
    async with api.store.read() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == response.json()))).one()
    assert load_spec(row.spec) == MqttSpec(topic="ops/db-1", message="hello")


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_an_entitys_properties_together_are_bounded(api, backend, world, kind):
    """Each request is small, but added up they would grow one row (and every document
    holding it) without end: past 1 MiB together, a change that grows them is a 400."""
    admin, entity_id = world["admin"], world[kind]
    big = "v" * 65536
    added = []
    for number in range(15):
        response = await add(api, admin, kind, entity_id, name=f"p{number}", value=big)
        assert response.status_code == 200, response.text
        added.append(response.json())
    response = await add(api, admin, kind, entity_id, name="one more", value=big)
    assert "together longer than" in assert_error(response, 400, "BadRequest")["message"]
    # Growing one already there is refused too (the entity's PATCH passes the same check,
    # store/properties.write_records, but could not carry this much in one body).
    small = (await add(api, admin, kind, entity_id, name="small", value="s")).json()
    response = await api.client.patch(
        props_url(kind, entity_id, small["id"]), json={"value": big}, headers=admin
    )
    assert_error(response, 400, "BadRequest")
    listed = (await api.client.get(props_url(kind, entity_id), headers=admin)).json()
    assert listed == [*added, small]
    # Cutting down is always allowed.
    response = await api.client.delete(props_url(kind, entity_id, added[0]["id"]), headers=admin)
    assert response.status_code == 200
    response = await add(api, admin, kind, entity_id, name="one more", value=big)
    assert response.status_code == 200, response.text
