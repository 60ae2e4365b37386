"""Objects and links (docs/api.md §11): create, read, project, change, delete — and who
sees them."""

from __future__ import annotations

from conftest import basic
from helpers import assert_error
from opsjobs.domain.ids import is_object_id, new_id
from opsjobs.domain.rights import PERMISSIONS

OBJECT_KEYS = [
    # SAYMON's create answer's order first (docs/api.md §11).
    "name",
    "owner_id",
    "object_groups",
    "geoposition",
    "child_ref_ids",
    "child_link_ids",
    "child_ids",
    "parent_id",
    "weight",
    "tags",
    "last_state_update",
    "updated",
    "created",
    "id",
    "class_id",
    "state_id",
    "discovery_id",
    "client_data",
    "background",
    "geopositionRadius",
    "manual_state",
    "properties",
    "operations",
]
LINK_KEYS = {
    "id",
    "name",
    "source",
    "target",
    "source_name",
    "target_name",
    "class_id",
    "state_id",
    "last_state_update",
    "owner_id",
    "weight",
    "tags",
    "client_data",
    "manual_state",
    "properties",
    "operations",
    "created",
    "updated",
}
OBJECT_LIST_DEFAULT = {
    "id",
    "name",
    "parent_id",
    "class_id",
    "state_id",
    "last_state_update",
    "child_ids",
    "child_link_ids",
    "child_ref_ids",
    "geoposition",
}


def values(properties: list[dict]) -> dict:
    return {p["name"]: p["value"] for p in properties}


async def create(api, headers, **body) -> dict:
    response = await api.client.post("/node/api/objects", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# -- objects --------------------------------------------------------------------------------


async def test_create_object_defaults_to_the_root(api, backend):
    admin = await api.admin()
    document = await create(api, admin, name="web-1")
    assert list(document) == OBJECT_KEYS
    assert is_object_id(document["id"])
    assert document["name"] == "web-1"
    assert document["parent_id"] == ["1"]
    assert document["class_id"] is None
    assert document["state_id"] == 1  # Created
    assert document["properties"] == []
    assert document["operations"] == []
    assert type(document["created"]) is int and document["created"] == document["updated"]
    assert document["last_state_update"] == document["created"]  # set at creation
    assert document["child_ids"] == document["child_link_ids"] == document["child_ref_ids"] == []
    assert document["weight"] == 1 and document["tags"] == [] and document["geoposition"] == []
    assert document["owner_id"] is not None  # the creator
    fetched = await api.client.get(f"/node/api/objects/{document['id']}", headers=admin)
    assert fetched.json() == document


async def test_create_object_with_parent_string_or_array(api, backend):
    admin = await api.admin()
    a = await create(api, admin, name="a")
    b = await create(api, admin, name="b", parent_id="1")
    child = await create(api, admin, name="child", parent_id=a["id"])
    assert child["parent_id"] == [a["id"]]
    multi = await create(
        api,
        admin,
        name="multi",
        parent_id=[a["id"], b["id"], a["id"]],
        properties={"ip": "10.0.0.1"},
    )
    assert multi["parent_id"] == [a["id"], b["id"]]  # order kept, repeats dropped
    assert values(multi["properties"]) == {"ip": "10.0.0.1"}
    listed = await create(api, admin, name="props", properties=[{"name": "ip", "value": "x"}])
    [record] = listed["properties"]
    assert is_object_id(record.pop("id"))
    assert record == {
        "name": "ip",
        "value": "x",
        "type_id": 1,
        "owner_id": listed["id"],
        "owner_type": 1,
    }


async def test_create_under_a_missing_or_invisible_parent_is_404(api, backend):
    admin = await api.admin()
    a = (await create(api, admin, name="a"))["id"]
    b = (await create(api, admin, name="b"))["id"]
    creator = await api.user("creator", "pw", ["create-objects"], [a])
    assert (await create(api, creator, name="ok", parent_id=a))["parent_id"] == [a]
    unknown = new_id()
    for parent in (b, unknown, "1", "zzz", [a, b]):
        response = await api.client.post(
            "/node/api/objects", json={"name": "x", "parent_id": parent}, headers=creator
        )
        named = parent[1] if isinstance(parent, list) else parent
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({named})")
    # The default parent is the root, which this user cannot see.
    response = await api.client.post("/node/api/objects", json={"name": "x"}, headers=creator)
    assert_error(response, 404, "ResourceNotFound", "Entity not found: Object(1)")
    # Nothing was created by the refused calls.
    names = [o["name"] for o in (await api.client.get("/node/api/objects", headers=admin)).json()]
    assert sorted(names) == ["Root", "a", "b", "ok"]


async def test_create_needs_create_or_manage_objects(api):
    admin = await api.admin()
    viewer = await api.user("viewer", "pw", ["modify-objects", "delete-objects"], ["1"])
    response = await api.client.post("/node/api/objects", json={"name": "x"}, headers=viewer)
    assert_error(
        response, 403, "Forbidden", "Required permissions: create-objects or manage-objects"
    )
    manager = await api.user("manager", "pw", ["manage-objects"], ["1"])
    await create(api, manager, name="by manager")
    assert len((await api.client.get("/node/api/objects", headers=admin)).json()) == 2


async def test_root_always_exists_and_cannot_be_deleted(api, backend):
    admin = await api.admin()
    root = (await api.client.get("/node/api/objects/1", headers=admin)).json()
    assert root["id"] == "1" and root["parent_id"] == []
    response = await api.client.delete("/node/api/objects/1", headers=admin)
    assert_error(response, 400, "BadRequest", contains=("root",))
    child = (await create(api, admin, name="child"))["id"]
    response = await api.client.patch(
        "/node/api/objects/1", json={"parent_id": child}, headers=admin
    )
    assert_error(response, 400, "BadRequest", contains=("parent_id",))
    renamed = await api.client.patch(
        "/node/api/objects/1", json={"name": "Everything"}, headers=admin
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Everything"
    assert (await api.client.get("/node/api/objects/1", headers=admin)).status_code == 200


async def test_fields_projection(api, backend):
    admin = await api.admin()
    a = await create(api, admin, name="a", properties={"k": 1})
    response = await api.client.get("/node/api/objects?fields=name,parent_id", headers=admin)
    assert response.status_code == 200
    documents = {d["id"]: d for d in response.json()}
    assert documents[a["id"]] == {"id": a["id"], "name": "a", "parent_id": ["1"]}
    assert documents["1"] == {"id": "1", "name": "Root", "parent_id": []}
    only_id = await api.client.get("/node/api/objects?fields=id", headers=admin)
    assert all(set(d) == {"id"} for d in only_id.json())
    unknown = await api.client.get("/node/api/objects?fields=name,nonsense", headers=admin)
    assert all(set(d) == {"id", "name"} for d in unknown.json())
    spaced = await api.client.get("/node/api/objects?fields= name , properties ", headers=admin)
    projected = {d["id"]: d for d in spaced.json()}[a["id"]]
    assert set(projected) == {"id", "name", "properties"}
    assert values(projected["properties"]) == {"k": 1}
    # Without fields (or with none named): SAYMON's default set.
    for query in ("", "?fields="):
        default = await api.client.get(f"/node/api/objects{query}", headers=admin)
        assert all(set(d) == OBJECT_LIST_DEFAULT for d in default.json())
    every = await api.client.get(f"/node/api/objects?fields={','.join(OBJECT_KEYS)}", headers=admin)
    assert all(list(d) == OBJECT_KEYS for d in every.json())  # in the order named

    b, c = await api.object("b"), await api.object("c")
    await api.link(b, c)
    links = await api.client.get("/node/api/links?fields=source,target", headers=admin)
    assert links.json() and all(set(d) == {"id", "source", "target"} for d in links.json())


async def test_patch_object(api, backend):
    admin = await api.admin()
    a = (await create(api, admin, name="a"))["id"]
    b = (await create(api, admin, name="b"))["id"]
    x = await create(api, admin, name="x", parent_id=a)
    response = await api.client.patch(
        f"/node/api/objects/{x['id']}",
        json={"name": "x2", "properties": {"ip": "10.0.0.2"}, "parent_id": [b, a]},
        headers=admin,
    )
    assert response.status_code == 200
    changed = response.json()
    assert changed["name"] == "x2"
    assert values(changed["properties"]) == {"ip": "10.0.0.2"}
    assert changed["parent_id"] == [b, a]
    assert changed["created"] == x["created"] and changed["updated"] >= x["updated"]
    assert changed["last_state_update"] == x["last_state_update"]

    response = await api.client.patch(
        f"/node/api/objects/{x['id']}", json={"state_id": 5}, headers=admin
    )
    assert response.json()["state_id"] == 5
    assert type(response.json()["last_state_update"]) is int

    response = await api.client.patch(
        f"/node/api/objects/{x['id']}", json={"parent_id": x["id"]}, headers=admin
    )
    assert_error(response, 400, "BadRequest", contains=("parent_id",))
    response = await api.client.patch(
        f"/node/api/objects/{x['id']}", json={"parent_id": []}, headers=admin
    )
    assert_error(response, 400, "BadRequest", contains=("parent_id",))
    fetched = (await api.client.get(f"/node/api/objects/{x['id']}", headers=admin)).json()
    assert fetched["parent_id"] == [b, a] and fetched["name"] == "x2"


async def test_moving_an_object_changes_who_sees_it_at_once(api, backend):
    admin = await api.admin()
    a = (await create(api, admin, name="a"))["id"]
    b = (await create(api, admin, name="b"))["id"]
    x = (await create(api, admin, name="x", parent_id=a))["id"]
    user_a = await api.user("ua", "pw", ["modify-objects"], [a])
    assert (await api.client.get(f"/node/api/objects/{x}", headers=user_a)).status_code == 200
    # ua cannot move x under b: b is invisible to ua.
    response = await api.client.patch(
        f"/node/api/objects/{x}", json={"parent_id": b}, headers=user_a
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({b})")
    await api.client.patch(f"/node/api/objects/{x}", json={"parent_id": b}, headers=admin)
    response = await api.client.get(f"/node/api/objects/{x}", headers=user_a)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({x})")
    listed = (await api.client.get("/node/api/objects", headers=user_a)).json()
    assert [o["id"] for o in listed] == [a]


async def test_patch_and_delete_need_their_permissions(api):
    await api.admin()
    x = await api.object("x")
    creator = await api.user("creator", "pw", ["create-objects"], ["1"])
    response = await api.client.patch(f"/node/api/objects/{x}", json={"name": "y"}, headers=creator)
    assert_error(
        response, 403, "Forbidden", "Required permissions: modify-objects or manage-objects"
    )
    response = await api.client.delete(f"/node/api/objects/{x}", headers=creator)
    assert_error(
        response, 403, "Forbidden", "Required permissions: delete-objects or manage-objects"
    )
    deleter = await api.user("deleter", "pw", ["delete-objects"], ["1"])
    assert (await api.client.delete(f"/node/api/objects/{x}", headers=deleter)).status_code == 200
    response = await api.client.get(f"/node/api/objects/{x}", headers=deleter)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({x})")
    response = await api.client.delete(f"/node/api/objects/{x}", headers=deleter)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({x})")


async def test_multi_parent_visibility(api, backend):
    admin = await api.admin()
    a = (await create(api, admin, name="a"))["id"]
    b = (await create(api, admin, name="b"))["id"]
    m = (await create(api, admin, name="m", parent_id=[a, b]))["id"]
    cases = {
        "via-a": ([a], [], True),
        "via-b": ([b], [], True),
        "root-minus-a": (["1"], [a], True),
        "root-minus-both": (["1"], [a, b], False),
        "a-but-m-excluded": ([a, b], [m], False),
        "neither": ([], [], False),
    }
    for login, (include, exclude, sees) in cases.items():
        headers = await api.user(login, "pw", [], include, exclude)
        response = await api.client.get(f"/node/api/objects/{m}", headers=headers)
        assert (response.status_code == 200) is sees, login
        listed = {
            o["id"] for o in (await api.client.get("/node/api/objects", headers=headers)).json()
        }
        assert (m in listed) is sees, login


# -- links ----------------------------------------------------------------------------------


async def test_links_crud(api, backend):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    response = await api.client.post(
        "/node/api/links",
        json={"source": a, "target": b, "name": "a → b", "properties": {"bw": 10}},
        headers=admin,
    )
    assert response.status_code == 200
    link = response.json()
    assert set(link) == LINK_KEYS
    assert (link["source"], link["target"], link["name"]) == (a, b, "a → b")
    assert values(link["properties"]) == {"bw": 10} and link["state_id"] == 1
    assert (link["source_name"], link["target_name"]) == ("a", "b")
    assert (await api.client.get(f"/node/api/links/{link['id']}", headers=admin)).json() == link
    listed = (await api.client.get("/node/api/links", headers=admin)).json()
    assert [lk["id"] for lk in listed] == [link["id"]]
    assert set(listed[0]) == {
        "id",
        "class_id",
        "source",
        "target",
        "source_name",
        "target_name",
        "state_id",
        "last_state_update",
    }

    response = await api.client.patch(
        f"/node/api/links/{link['id']}", json={"name": "renamed", "state_id": 8}, headers=admin
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed" and response.json()["state_id"] == 8
    assert type(response.json()["last_state_update"]) is int

    assert (
        await api.client.delete(f"/node/api/links/{link['id']}", headers=admin)
    ).status_code == 200
    response = await api.client.get(f"/node/api/links/{link['id']}", headers=admin)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Link({link['id']})")
    assert (await api.client.get("/node/api/links", headers=admin)).json() == []


async def test_link_ends_must_exist_and_be_visible(api, backend):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    unknown = new_id()
    user = await api.user("u", "pw", ["create-links"], [a])
    for source, target, named in (
        (a, unknown, unknown),
        (unknown, a, unknown),
        (a, b, b),
        (b, a, b),
    ):
        response = await api.client.post(
            "/node/api/links", json={"source": source, "target": target}, headers=user
        )
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({named})")
    response = await api.client.post(
        "/node/api/links", json={"source": a, "target": unknown}, headers=admin
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({unknown})")
    response = await api.client.post(
        "/node/api/links", json={"source": a, "target": a}, headers=user
    )
    assert response.status_code == 200
    viewer = await api.user("v", "pw", [], ["1"])
    response = await api.client.post(
        "/node/api/links", json={"source": a, "target": b}, headers=viewer
    )
    assert_error(response, 403, "Forbidden", "Required permissions: create-links or manage-links")


async def test_link_visibility_needs_both_ends_or_an_include(api, backend):
    admin = await api.admin()
    a, b, c = await api.object("a"), await api.object("b"), await api.object("c")
    ab = (
        await api.client.post("/node/api/links", json={"source": a, "target": b}, headers=admin)
    ).json()["id"]
    ac = (
        await api.client.post("/node/api/links", json={"source": a, "target": c}, headers=admin)
    ).json()["id"]
    both = await api.user("both", "pw", [], [a, b])
    one = await api.user("one", "pw", [], [a])
    included = await api.user("included", "pw", [], [ac])
    excluded = await api.user("excluded", "pw", [], ["1"], [ab])

    async def sees(headers) -> set[str]:
        listed = {
            lk["id"] for lk in (await api.client.get("/node/api/links", headers=headers)).json()
        }
        for link_id in (ab, ac):
            status = (
                await api.client.get(f"/node/api/links/{link_id}", headers=headers)
            ).status_code
            assert (status == 200) is (link_id in listed)
        return listed

    assert await sees(both) == {ab}
    assert await sees(one) == set()
    assert await sees(included) == {ac}
    assert await sees(excluded) == {ac}
    assert await sees(admin) == {ab, ac}


async def test_link_patch_and_delete_need_their_permissions(api):
    await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link_id = await api.link(a, b)
    objects_only = await api.user("o", "pw", [p for p in PERMISSIONS if "link" not in p], ["1"])
    response = await api.client.patch(
        f"/node/api/links/{link_id}", json={"name": "x"}, headers=objects_only
    )
    assert_error(response, 403, "Forbidden", "Required permissions: modify-links or manage-links")
    response = await api.client.delete(f"/node/api/links/{link_id}", headers=objects_only)
    assert_error(response, 403, "Forbidden", "Required permissions: delete-links or manage-links")
    manager = await api.user("m", "pw", ["manage-links"], ["1"])
    assert (
        await api.client.delete(f"/node/api/links/{link_id}", headers=manager)
    ).status_code == 200


async def test_changes_made_through_the_api_are_seen_by_other_users_at_once(api, backend):
    admin = await api.admin()
    watcher = await api.user("w", "pw", [], ["1"])
    created = await create(api, admin, name="fresh")
    assert (
        await api.client.get(f"/node/api/objects/{created['id']}", headers=watcher)
    ).status_code == 200
    await api.client.delete(f"/node/api/objects/{created['id']}", headers=admin)
    response = await api.client.get(f"/node/api/objects/{created['id']}", headers=watcher)
    assert_error(response, 404, "ResourceNotFound")
    # Basic credentials of a user created through the API work at once too.
    await api.client.post(
        "/node/api/users", json={"login": "late", "password": "pw"}, headers=admin
    )
    assert (
        await api.client.get("/node/api/users/current", headers=basic("late", "pw"))
    ).status_code == 200


async def test_deleting_an_object_with_children_is_refused_and_changes_nothing(api, backend):
    admin = await api.admin()
    parent = await api.object("rack")
    child = await api.object("server", parent)
    refused = await api.client.delete(f"/node/api/objects/{parent}", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["code"] == "Conflict"
    assert (await api.client.get(f"/node/api/objects/{child}", headers=admin)).status_code == 200
    assert (await api.client.delete(f"/node/api/objects/{child}", headers=admin)).status_code == 200
    assert (
        await api.client.delete(f"/node/api/objects/{parent}", headers=admin)
    ).status_code == 200


async def test_deleting_an_object_deletes_the_links_ending_at_it(api, backend):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link = await api.link(a, b)
    assert (await api.client.delete(f"/node/api/objects/{b}", headers=admin)).status_code == 200
    gone = await api.client.get(f"/node/api/links/{link}", headers=admin)
    assert gone.status_code == 404
    listed = await api.client.get("/node/api/links", headers=admin)
    assert link not in {entry["id"] for entry in listed.json()}


async def test_status_filter_names_a_known_status(api):
    admin = await api.admin()
    obj = await api.object("web")
    bad = await api.client.get(f"/node/api/objects/{obj}/jobs?status=finished", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("status:")
    body = {"objects": [obj], "status": "finished"}
    bad = await api.client.post("/node/api/jobs", json=body, headers=admin)
    assert bad.status_code == 400


async def test_an_empty_parent_list_is_refused(api):
    admin = await api.admin()
    response = await api.client.post(
        "/node/api/objects", json={"name": "x", "parent_id": []}, headers=admin
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("parent_id")


async def test_patching_parent_id_to_null_is_a_bad_request(api):
    admin = await api.admin()
    obj = await api.object("web")
    response = await api.client.patch(
        f"/node/api/objects/{obj}", json={"parent_id": None, "name": "x"}, headers=admin
    )
    assert response.status_code == 400
    assert response.json() == {"code": "BadRequest", "message": "parent_id: must not be null"}
