"""Tags (docs/api.md §11, "Tags"): the /tags routes, their rights, and objects' and links'
``tags`` referring to them."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from helpers import assert_error
from opsjobs.domain.ids import is_object_id, new_id
from opsjobs.store.schema import objects
from opsjobs.store.tags import check_tags

TAGS = "/node/api/tags"


async def make_tag(api, headers, name: str) -> dict:
    response = await api.client.post(TAGS, json={"name": name}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_tags_crud(api, backend):
    admin = await api.admin()
    xml = await make_tag(api, admin, "XML")
    assert list(xml) == ["id", "name", "created", "updated"]
    assert is_object_id(xml["id"]) and xml["name"] == "XML"
    db = await make_tag(api, admin, "db")
    assert (await api.client.get(TAGS, headers=admin)).json() == [xml, db]
    assert (await api.client.get(f"{TAGS}/{xml['id']}", headers=admin)).json() == xml
    response = await api.client.post(TAGS, json={"name": "XML"}, headers=admin)
    assert_error(response, 409, "Conflict", contains=("XML",))
    renamed = await api.client.patch(f"{TAGS}/{xml['id']}", json={"name": "xml"}, headers=admin)
    assert renamed.json()["name"] == "xml" and renamed.json()["id"] == xml["id"]
    response = await api.client.patch(f"{TAGS}/{xml['id']}", json={"name": "db"}, headers=admin)
    assert_error(response, 409, "Conflict")
    assert (await api.client.delete(f"{TAGS}/{xml['id']}", headers=admin)).status_code == 200
    for response in (
        await api.client.get(f"{TAGS}/{xml['id']}", headers=admin),
        await api.client.delete(f"{TAGS}/{xml['id']}", headers=admin),
        await api.client.patch(f"{TAGS}/{xml['id']}", json={"name": "z"}, headers=admin),
    ):
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Tag({xml['id']})")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "name:"),
        ({"name": ""}, "name:"),
        ({"name": 5}, "name:"),
        ({"name": "a\u202eb"}, "name:"),
        ({"name": "line\nbreak"}, "name:"),
        ({"name": "t" * 256}, "name:"),
    ],
)
async def test_bad_tag_names_are_400(api, body, named):
    admin = await api.admin()
    response = await api.client.post(TAGS, json=body, headers=admin)
    assert named in assert_error(response, 400, "BadRequest")["message"]
    assert (await api.client.get(TAGS, headers=admin)).json() == []


async def test_tag_rights(api, backend):
    admin = await api.admin()
    tag = await make_tag(api, admin, "t")
    reader = await api.user("reader", "pw", ["execute-operations"], ["1"])
    assert (await api.client.get(TAGS, headers=reader)).json() == [tag]
    response = await api.client.post(TAGS, json={"name": "r"}, headers=reader)
    assert_error(response, 403, "Forbidden", contains=("modify-objects", "manage-links"))
    assert (await api.client.get(TAGS)).status_code == 401
    labeller = await api.user("labeller", "pw", ["modify-links"], [])
    await make_tag(api, labeller, "by labeller")
    for response in (
        await api.client.patch(f"{TAGS}/{tag['id']}", json={"name": "u"}, headers=labeller),
        await api.client.delete(f"{TAGS}/{tag['id']}", headers=labeller),
    ):
        assert_error(
            response, 403, "Forbidden", "Required permissions: manage-objects or manage-links"
        )
    manager = await api.user("manager", "pw", ["manage-links"], [])
    assert (await api.client.delete(f"{TAGS}/{tag['id']}", headers=manager)).status_code == 200


async def test_entities_carry_tags_by_id(api, backend):
    admin = await api.admin()
    red, blue = await make_tag(api, admin, "red"), await make_tag(api, admin, "blue")
    response = await api.client.post(
        "/node/api/objects", json={"name": "x", "tags": [red["id"], red["id"]]}, headers=admin
    )
    x = response.json()
    assert x["tags"] == [red["id"]]  # once each
    a = await api.object("a")
    link = (
        await api.client.post(
            "/node/api/links",
            json={"source": a, "target": x["id"], "tags": [blue["id"], red["id"]]},
            headers=admin,
        )
    ).json()
    assert link["tags"] == [blue["id"], red["id"]]
    unknown = new_id()
    response = await api.client.patch(
        f"/node/api/objects/{x['id']}", json={"tags": [blue["id"], unknown]}, headers=admin
    )
    assert_error(response, 400, "BadRequest", f"tags: no such tag {unknown}")
    response = await api.client.patch(
        f"/node/api/objects/{x['id']}", json={"tags": [blue["id"], red["id"]]}, headers=admin
    )
    assert response.json()["tags"] == [blue["id"], red["id"]]

    # Deleting a tag takes it off everything that carried it.
    await api.client.delete(f"{TAGS}/{red['id']}", headers=admin)
    obj = (await api.client.get(f"/node/api/objects/{x['id']}", headers=admin)).json()
    assert obj["tags"] == [blue["id"]]
    got = (await api.client.get(f"/node/api/links/{link['id']}", headers=admin)).json()
    assert got["tags"] == [blue["id"]]


async def test_the_tags_of_an_object_out_of_sight_are_not_shown(api, backend):
    admin = await api.admin()
    tag = await make_tag(api, admin, "secret-tag")
    a, b = await api.object("a"), await api.object("b")
    await api.client.patch(f"/node/api/objects/{b}", json={"tags": [tag["id"]]}, headers=admin)
    viewer = await api.user("viewer", "pw", [], [a])
    response = await api.client.get(f"/node/api/objects/{b}", headers=viewer)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({b})")
    listed = await api.client.get("/node/api/objects?fields=tags", headers=viewer)
    assert listed.json() == [{"id": a, "tags": []}]


@pytest.mark.parametrize("carrier", ["object", "link"])
@pytest.mark.parametrize("action", ["rename", "delete"])
async def test_a_tag_on_something_the_caller_may_not_change_stays(api, backend, carrier, action):
    """Renaming or deleting a tag changes every entity that carries it: a manager whose
    sight or permissions do not reach one of them may not do it, and learns nothing of
    which one it is."""
    admin = await api.admin()
    tag = await make_tag(api, admin, "prod")
    mine, hidden, hidden_peer = (
        await api.object("mine"),
        await api.object("h"),
        await api.object("p"),
    )
    if carrier == "object":
        url = f"/node/api/objects/{hidden}"
    else:
        url = f"/node/api/links/{await api.link(hidden, hidden_peer)}"
    await api.client.patch(url, json={"tags": [tag["id"]]}, headers=admin)
    await api.client.patch(f"/node/api/objects/{mine}", json={"tags": [tag["id"]]}, headers=admin)
    everything = ["manage-objects", "manage-links", "modify-objects", "modify-links"]
    managers = {
        # Every permission, but sight of `mine` only.
        "out of sight": await api.user("narrow", "pw", everything, [mine]),
        # Sight of everything, but no right to change the kind that carries it.
        "no right": await api.user(
            "other-kind",
            "pw",
            ["manage-links"] if carrier == "object" else ["manage-objects"],
            ["1"],
        ),
    }
    tag_url = f"{TAGS}/{tag['id']}"
    for headers in managers.values():
        if action == "rename":
            response = await api.client.patch(tag_url, json={"name": "x"}, headers=headers)
        else:
            response = await api.client.delete(tag_url, headers=headers)
        body = assert_error(response, 403, "Forbidden")
        assert hidden not in body["message"] and "carried by" in body["message"]
    assert (await api.client.get(tag_url, headers=admin)).json() == tag
    assert (await api.client.get(url, headers=admin)).json()["tags"] == [tag["id"]]
    # Whoever may change every carrier may.
    if action == "rename":
        response = await api.client.patch(tag_url, json={"name": "x"}, headers=admin)
    else:
        response = await api.client.delete(tag_url, headers=admin)
    assert response.status_code == 200, response.text


async def test_a_tag_deleted_while_an_entity_is_labelled_with_it_is_left_nowhere(api, backend):
    """A label being put on while the tag is deleted: the delete waits for it and takes it
    off again, so no entity keeps the ID of a tag that no longer exists. (SQLite runs one
    write at a time, so only PostgreSQL can interleave them.)"""
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    admin = await api.admin()
    tag = await make_tag(api, admin, "racing")
    target = await api.object("target")
    async with api.store.db.writer.connect() as conn:
        transaction = await conn.begin()
        assert await check_tags(conn, [tag["id"]]) == [tag["id"]]  # as PATCH tags does
        deleting = asyncio.create_task(api.client.delete(f"{TAGS}/{tag['id']}", headers=admin))
        await asyncio.sleep(0.3)  # the delete reaches the tag's lock and waits there
        assert not deleting.done()
        await conn.execute(
            update(objects).where(objects.c.id == target).values(tags=f'["{tag["id"]}"]')
        )
        await transaction.commit()
    assert (await deleting).status_code == 200
    document = (await api.client.get(f"/node/api/objects/{target}", headers=admin)).json()
    assert document["tags"] == []
