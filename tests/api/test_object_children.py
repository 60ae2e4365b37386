"""An object's children and the links between them (docs/api.md §11): whole documents, as
far as the caller may see them."""

from __future__ import annotations

from helpers import assert_error
from opsjobs.domain.ids import new_id

OBJECTS = "/node/api/objects"


async def _object(api, headers, **body) -> str:
    response = await api.client.post(OBJECTS, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def _link(api, headers, source: str, target: str) -> str:
    response = await api.client.post(
        "/node/api/links", json={"source": source, "target": target}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def _tree(api):
    """rack ⊃ {web, db, cache}, an outsider under the root; links web–db, web–cache,
    web–outsider."""
    admin = await api.admin()
    rack = await _object(api, admin, name="rack", discovery_id="rack-7")
    web, db, cache = [
        await _object(api, admin, name=n, parent_id=rack) for n in ("web", "db", "cache")
    ]
    outsider = await _object(api, admin, name="outsider")
    links = {
        "web-db": await _link(api, admin, web, db),
        "web-cache": await _link(api, admin, web, cache),
        "web-outsider": await _link(api, admin, web, outsider),
    }
    return admin, {"rack": rack, "web": web, "db": db, "cache": cache}, links


async def test_children_are_whole_documents_of_the_visible_children(api, backend):
    admin, ids, _ = await _tree(api)
    response = await api.client.get(f"{OBJECTS}/{ids['rack']}/children", headers=admin)
    assert response.status_code == 200, response.text
    children = response.json()
    assert {c["name"] for c in children} == {"web", "db", "cache"}
    for child in children:
        whole = (await api.client.get(f"{OBJECTS}/{child['id']}", headers=admin)).json()
        assert child == whole
    # The same list as the parent's child_ids, in that order.
    parent = (await api.client.get(f"{OBJECTS}/{ids['rack']}", headers=admin)).json()
    assert [c["id"] for c in children] == parent["child_ids"]
    # A leaf has none.
    leaf = await api.client.get(f"{OBJECTS}/{ids['web']}/children", headers=admin)
    assert leaf.status_code == 200 and leaf.json() == []


async def test_a_child_out_of_sight_is_left_out(api, backend):
    _, ids, _ = await _tree(api)
    viewer = await api.user("viewer", "pw", [], [ids["rack"]], [ids["db"]])
    response = await api.client.get(f"{OBJECTS}/{ids['rack']}/children", headers=viewer)
    assert response.status_code == 200
    children = response.json()
    assert {c["name"] for c in children} == {"web", "cache"}
    # What the children name is as filtered as their own documents are.
    web = next(c for c in children if c["name"] == "web")
    assert ids["db"] not in str(children)
    assert web["child_ids"] == []


async def test_an_object_out_of_sight_is_404_as_one_that_does_not_exist(api, backend):
    _, ids, _ = await _tree(api)
    only_web = await api.user("only-web", "pw", [], [ids["web"]])
    for ref in (ids["rack"], "discovery%20id:rack-7"):
        for tail in ("children", "children/links"):
            response = await api.client.get(f"{OBJECTS}/{ref}/{tail}", headers=only_web)
            named = ref.replace("%20", " ")
            assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({named})")
    unknown = new_id()
    response = await api.client.get(f"{OBJECTS}/{unknown}/children", headers=only_web)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({unknown})")


async def test_children_by_discovery_id(api, backend):
    admin, ids, _ = await _tree(api)
    by_id = await api.client.get(f"{OBJECTS}/{ids['rack']}/children", headers=admin)
    by_discovery = await api.client.get(f"{OBJECTS}/discovery%20id:rack-7/children", headers=admin)
    assert by_discovery.status_code == 200
    assert by_discovery.json() == by_id.json()
    missing = await api.client.get(f"{OBJECTS}/discovery%20id:nope/children", headers=admin)
    assert_error(missing, 404, "ResourceNotFound", "Entity not found: Object(discovery id:nope)")


async def test_children_links_are_the_links_between_children(api, backend):
    admin, ids, links = await _tree(api)
    response = await api.client.get(f"{OBJECTS}/{ids['rack']}/children/links", headers=admin)
    assert response.status_code == 200, response.text
    answered = response.json()
    # Not web–outsider: its far end is not a child of the rack.
    assert {lk["id"] for lk in answered} == {links["web-db"], links["web-cache"]}
    whole = (await api.client.get(f"/node/api/links/{links['web-db']}", headers=admin)).json()
    assert next(lk for lk in answered if lk["id"] == links["web-db"]) == whole
    # A link with an end out of sight is left out.
    viewer = await api.user("viewer", "pw", [], [ids["rack"]], [ids["db"]])
    seen = await api.client.get(f"{OBJECTS}/{ids['rack']}/children/links", headers=viewer)
    assert [lk["id"] for lk in seen.json()] == [links["web-cache"]]


async def test_children_need_credentials_and_refuse_hostile_references(api):
    admin, ids, _ = await _tree(api)
    response = await api.client.get(f"{OBJECTS}/{ids['rack']}/children")
    assert response.status_code == 401
    for ref in ("..%2F..%2Fetc", "x" * 5000, "%00", "1%27%20OR%201=1"):
        response = await api.client.get(f"{OBJECTS}/{ref}/children", headers=admin)
        assert response.status_code in (400, 404), (ref, response.text)
        assert response.headers["content-type"].startswith("application/json")
