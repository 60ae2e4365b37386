"""State triggers through the API (docs/api.md §18): ``GET``/``PUT …/state-triggers`` of
objects and links, a class's ``triggers``, and ``GET …/trigger-deliveries``: rights in the
order of §2, every refusal of a body naming its field, and what a change drops."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from helpers import assert_error
from helpers.states import state_world
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.schema import trigger_deliveries, trigger_firings
from opsjobs.store.triggers import defined_triggers

MODIFY = {"object": "modify-objects", "link": "modify-links"}
DAY_MS = 86_400_000
MAIL = {"type": "e-mail", "states": [5], "payload": {"to": "ops@example.com"}}
SCRIPT = {"type": "script", "states": [5], "payload": {"execPath": "/usr/local/bin/page"}}
OPERATION = {
    "name": "check",
    "type": 2,
    "parameters": {"type": "fileSystem", "path": "/bin/true", "args": [], "runner": "nowhere"},
}


@pytest.fixture
async def world(api):
    return await state_world(api)


def url(kind: str, entity_id: str, tail: str = "state-triggers") -> str:
    return f"/node/api/{kind}s/{entity_id}/{tail}"


async def add_operation(api, headers, plural: str, owner_id: str) -> str:
    response = await api.client.post(
        f"/node/api/{plural}/{owner_id}/operations", json=OPERATION, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def firings_of(api, entity_id: str) -> list[tuple]:
    async with api.store.read() as conn:
        rows = await conn.execute(
            select(
                trigger_firings.c.source, trigger_firings.c.source_id, trigger_firings.c.state_id
            )
            .where(trigger_firings.c.owner_id == entity_id)
            .order_by(trigger_firings.c.source, trigger_firings.c.trigger_index)
        )
        return [tuple(r) for r in rows]


# -- an entity's own triggers ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_put_then_get_the_triggers_as_normalised(api, backend, world, kind):
    entity_id, headers = world["ids"][kind], world["users"]["modifier"]
    never = await api.client.get(url(kind, entity_id), headers=headers)
    label = kind.capitalize()
    assert_error(
        never,
        404,
        "ResourceNotFound",
        f"Entity not found: StateTriggers({entity_id}, {label}({entity_id}))",
    )
    sent = [
        {
            "type": "e-mail",
            "states": ["5", 4, 5],
            "payload": {"to": ["a@example.com", "b@example.org"], "extra": 1},
            "duration": 60_000,
            "periodicity": {"value": 5, "unit": "minutes"},
            "comment": "dropped",
        },
        {"type": "sms", "states": [8], "payload": {"phone": "+1 (555) 010-9999"}},
    ]
    response = await api.client.put(url(kind, entity_id), json=sent, headers=headers)
    assert response.status_code == 200, response.text
    assert response.content == b""
    kept = await api.client.get(url(kind, entity_id), headers=headers)
    assert kept.status_code == 200
    assert kept.json() == [
        {
            "type": "e-mail",
            "states": [5, 4],
            "payload": {"to": ["a@example.com", "b@example.org"]},
            "duration": 60_000,
            "periodicity": {"value": "5", "unit": "minutes"},
        },
        {"type": "sms", "states": [8], "payload": {"phone": "+1 (555) 010-9999"}},
    ]
    # An empty array is a set of no triggers: read back as [], not as "never set".
    emptied = await api.client.put(url(kind, entity_id), json=[], headers=headers)
    assert emptied.status_code == 200
    assert (await api.client.get(url(kind, entity_id), headers=headers)).json() == []


async def test_triggers_take_a_discovery_id(api, backend, world):
    admin = world["users"]["admin"]
    created = await api.client.post(
        "/node/api/objects", json={"name": "d", "discovery_id": "dev-1"}, headers=admin
    )
    object_id = created.json()["id"]
    ref = url("object", "discovery%20id:dev-1")
    assert (await api.client.put(ref, json=[MAIL], headers=admin)).status_code == 200
    assert (await api.client.get(url("object", object_id), headers=admin)).json() == [MAIL]
    assert (await api.client.get(ref, headers=admin)).json() == [MAIL]


@pytest.mark.parametrize("kind", ["object", "link"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_trigger_routes_rights(api, backend, world, kind, method):
    ids, users = world["ids"], world["users"]
    entity_id, hidden_id = ids[kind], ids[f"hidden_{kind}"]
    label = kind.capitalize()
    body = [MAIL] if method == "PUT" else None

    async def call(target, who=None):
        headers = users[who] if who else {}
        return await api.client.request(method, url(kind, target), json=body, headers=headers)

    assert_error(await call(entity_id), 401, "Unauthorized")
    assert_error(
        await call(entity_id, "viewer"),
        403,
        "Forbidden",
        f"Required permissions: {MODIFY[kind]} or manage-{kind}s",
    )
    for who, target in (("modifier", hidden_id), ("outsider", entity_id), ("viewer", hidden_id)):
        assert_error(
            await call(target, who), 404, "ResourceNotFound", f"Entity not found: {label}({target})"
        )
    assert (await api.client.get(url(kind, hidden_id), headers=users["admin"])).status_code == 404
    # (never set: SAYMON's 404 for the admin too, but naming the triggers, not the entity)


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_a_script_trigger_needs_manage_operations_too(api, backend, world, kind):
    entity_id, users = world["ids"][kind], world["users"]
    response = await api.client.put(
        url(kind, entity_id), json=[MAIL, SCRIPT], headers=users["modifier"]
    )
    assert_error(response, 403, "Forbidden", "Required permissions: manage-operations")
    # Refused before the body is judged: a bad script trigger is still a 403 for them.
    bad = [{"type": "script", "states": [99], "payload": {}}]
    response = await api.client.put(url(kind, entity_id), json=bad, headers=users["modifier"])
    assert_error(response, 403, "Forbidden", "Required permissions: manage-operations")
    never = await api.client.get(url(kind, entity_id), headers=users["modifier"])
    assert never.status_code == 404
    allowed = await api.client.put(url(kind, entity_id), json=[SCRIPT], headers=users["admin"])
    assert allowed.status_code == 200, allowed.text


HOSTILE = [
    ({"type": "e-mail"}, "triggers: must be an array"),
    ("[]", "triggers: must be an array"),
    ([MAIL] * 101, "triggers: must be an array of at most 100"),
    (["x"], "triggers[0]: must be an object"),
    ([{**MAIL, "type": "pager"}], "triggers[0].type: must be one of"),
    ([{**MAIL, "type": None}], "triggers[0].type: must be one of"),
    ([{**MAIL, "states": []}], "triggers[0].states: must be a non-empty array"),
    ([{**MAIL, "states": 5}], "triggers[0].states: must be a non-empty array"),
    ([{**MAIL, "states": [5, 2]}], "triggers[0].states[1]: unknown state"),
    ([{**MAIL, "states": [5, 2**40]}], "triggers[0].states[1]: unknown state"),
    # Past 64 bits: refused by the JSON reader of every body (docs/api.md §15), by position.
    ([{**MAIL, "states": [5, 2**63]}], "0.states.1: integer out of range"),
    ([{**MAIL, "states": [True]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": ["5\x00"]}], "0.states.0: must not contain NUL"),
    ([MAIL, {**MAIL, "duration": -1}], "triggers[1].duration: must be a number"),
    ([{**MAIL, "duration": "60000"}], "triggers[0].duration: must be a number"),
    ([{**MAIL, "duration": 367 * 86_400_000}], "triggers[0].duration: must be a number"),
    ([{**MAIL, "periodicity": {"value": "5", "unit": "weeks"}}], "periodicity.unit: must be"),
    ([{**MAIL, "periodicity": {"value": "0", "unit": "hours"}}], "periodicity.value: must be"),
    ([{**MAIL, "periodicity": {"value": "-5", "unit": "hours"}}], "periodicity.value: must be"),
    ([{**MAIL, "periodicity": {"value": "1.5", "unit": "days"}}], "periodicity.value: must be"),
    ([{**MAIL, "periodicity": {"value": "367", "unit": "days"}}], "periodicity: must be at most"),
    ([{**MAIL, "periodicity": "5m"}], "triggers[0].periodicity: must be an object"),
    ([{**MAIL, "payload": {"to": "a@b.c\r\nBcc: x@y.z"}}], "triggers[0].payload.to: not an"),
    ([{**MAIL, "payload": {"to": ["a@b.c", "x@y.z\nBcc: q@r.s"]}}], "payload.to[1]: not an"),
    ([{**MAIL, "payload": {"to": "Ada <ada@example.com>"}}], "payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c, d@e.f"}}], "payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c", "cc": "\x00@b.c"}}], "0.payload.cc: must not contain"),
    ([{**MAIL, "payload": {"to": "a@b.c", "cc": "x@y.z\tBcc"}}], "payload.cc: not an e-mail"),
    ([{**MAIL, "payload": {"to": ["a@b.c"] * 51}}], "payload.to: must be an e-mail address"),
    ([{**MAIL, "payload": {"to": []}}], "payload.to: must be an e-mail address"),
    ([{**MAIL, "payload": "ops@example.com"}], "triggers[0].payload: must be an object"),
    ([{"type": "sms", "states": [5], "payload": {"phone": "+1 555\r\nX: y"}}], "payload.phone"),
    ([{"type": "voiceCall", "states": [5], "payload": {"phone": "call me"}}], "payload.phone"),
    ([{"type": "operation", "states": [5], "payload": {}}], "payload.operation: must be a"),
    ([{"type": "operation", "states": [5], "payload": {"operation": "x" * 65}}], "operation"),
]


@pytest.mark.parametrize(("body", "names"), HOSTILE)
async def test_hostile_triggers_are_400_naming_the_field(api, backend, world, body, names):
    entity_id, admin = world["ids"]["object"], world["users"]["admin"]
    response = await api.client.put(url("object", entity_id), json=body, headers=admin)
    assert_error(response, 400, "BadRequest", contains=(names,))
    assert (await api.client.get(url("object", entity_id), headers=admin)).status_code == 404


async def test_hostile_script_triggers_are_400_naming_the_field(api, backend, world):
    entity_id, admin = world["ids"]["object"], world["users"]["admin"]
    cases = [
        ({"execPath": ""}, "payload.execPath: must be a non-empty string"),
        ({"execPath": "/bin/x\x00y"}, "payload.execPath: must not contain NUL"),
        ({"execPath": "x" * 4097}, "payload.execPath: must be a non-empty string"),
        ({"execPath": "/bin/x", "execArgs": "-rf /"}, "payload.execArgs: must be an array"),
        ({"execPath": "/bin/x", "execArgs": ["a"] * 257}, "payload.execArgs: must be an array"),
        ({"execPath": "/bin/x", "execArgs": ["a", 1]}, "payload.execArgs[1]: must be a"),
    ]
    for payload, names in cases:
        body = [{"type": "script", "states": [5], "payload": payload}]
        response = await api.client.put(url("object", entity_id), json=body, headers=admin)
        assert_error(response, 400, "BadRequest", contains=(names,))


async def test_a_body_past_the_size_limit_is_413(api, backend, world):
    entity_id, admin = world["ids"]["object"], world["users"]["admin"]
    huge = [{**MAIL, "payload": {"to": "a@b.c"}, "pad": "x" * 2_000_000}]
    response = await api.client.put(url("object", entity_id), json=huge, headers=admin)
    assert_error(response, 413, "PayloadTooLarge")


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_operation_triggers_name_the_entitys_or_its_classs_operations(
    api, backend, world, kind
):
    ids, admin = world["ids"], world["users"]["admin"]
    entity_id = ids[kind]
    cls = (await api.client.post("/node/api/classes", json={"name": "c"}, headers=admin)).json()
    patched = await api.client.patch(
        f"/node/api/{kind}s/{entity_id}", json={"class_id": cls["id"]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    own = await add_operation(api, admin, f"{kind}s", entity_id)
    inherited = await add_operation(api, admin, "classes", cls["id"])
    elsewhere = await add_operation(api, admin, "objects", ids["hidden_object"])
    good = [
        {"type": "operation", "states": [5], "payload": {"operation": own}},
        {"type": "operation", "states": [8], "payload": {"operation": inherited}},
    ]
    assert (await api.client.put(url(kind, entity_id), json=good, headers=admin)).status_code == 200
    for named in (elsewhere, "0123456789abcdef01234567"):
        bad = [*good, {"type": "operation", "states": [5], "payload": {"operation": named}}]
        response = await api.client.put(url(kind, entity_id), json=bad, headers=admin)
        assert_error(
            response, 400, "BadRequest", contains=("triggers[2].payload.operation:", named)
        )
    assert (await api.client.get(url(kind, entity_id), headers=admin)).json() == good


async def test_putting_triggers_drops_what_the_old_ones_had_pending(api, backend, world):
    entity_id, admin = world["ids"]["object"], world["users"]["admin"]
    later = {**MAIL, "duration": DAY_MS}
    await api.client.put(url("object", entity_id), json=[later], headers=admin)
    await api.client.put(
        f"/node/api/objects/{entity_id}/state", json={"state_id": 5}, headers=admin
    )
    assert await firings_of(api, entity_id) == [("object", entity_id, 5)]
    await api.client.put(url("object", entity_id), json=[later], headers=admin)
    assert await firings_of(api, entity_id) == []


# -- class triggers -------------------------------------------------------------------------


async def test_class_triggers_are_part_of_the_class_and_inherited(api, backend, world):
    admin = world["users"]["admin"]
    later = {**MAIL, "duration": DAY_MS}
    created = await api.client.post(
        "/node/api/classes", json={"name": "hosts", "triggers": [later]}, headers=admin
    )
    assert created.status_code == 200, created.text
    cls = created.json()
    assert list(cls) == ["id", "name", "operations", "triggers", "created", "updated"]
    assert cls["triggers"] == [later]
    plain = (await api.client.post("/node/api/classes", json={"name": "p"}, headers=admin)).json()
    assert plain["triggers"] == []
    listed = (await api.client.get("/node/api/classes", headers=admin)).json()
    assert {c["id"]: c["triggers"] for c in listed} == {cls["id"]: [later], plain["id"]: []}

    # An object of the class: its class's triggers apply, after its own.
    obj = await api.client.post(
        "/node/api/objects", json={"name": "h", "class_id": cls["id"]}, headers=admin
    )
    object_id = obj.json()["id"]
    own = {"type": "sms", "states": [5], "payload": {"phone": "+15550100"}, "duration": DAY_MS}
    await api.client.put(url("object", object_id), json=[own], headers=admin)
    async with api.store.read() as conn:
        defined = await defined_triggers(conn, EntityKind.OBJECT, object_id, cls["id"])
    assert [(d.source, d.source_id, d.trigger) for d in defined] == [
        ("object", object_id, own),
        ("class", cls["id"], later),
    ]
    await api.client.put(
        f"/node/api/objects/{object_id}/state", json={"state_id": 5}, headers=admin
    )
    assert await firings_of(api, object_id) == [("class", cls["id"], 5), ("object", object_id, 5)]

    # A change of the class's triggers drops what they had pending, not the object's own.
    changed = {**later, "states": [8]}
    patched = await api.client.patch(
        f"/node/api/classes/{cls['id']}", json={"triggers": [changed]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["triggers"] == [changed] and patched.json()["name"] == "hosts"
    assert await firings_of(api, object_id) == [("object", object_id, 5)]
    renamed = await api.client.patch(
        f"/node/api/classes/{cls['id']}", json={"name": "servers"}, headers=admin
    )
    assert renamed.json()["triggers"] == [changed] and renamed.json()["name"] == "servers"

    # Deleting the class drops its pending firings too.
    await api.client.put(
        f"/node/api/objects/{object_id}/state", json={"state_id": 8}, headers=admin
    )
    assert await firings_of(api, object_id) == [("class", cls["id"], 8)]
    assert (
        await api.client.delete(f"/node/api/classes/{cls['id']}", headers=admin)
    ).status_code == 200
    assert await firings_of(api, object_id) == []


async def test_class_triggers_rights_and_refusals(api, backend, world):
    admin = world["users"]["admin"]
    manager = await api.user("class-manager", permissions=["manage-classes"], include=[])
    cls = (await api.client.post("/node/api/classes", json={"name": "c"}, headers=admin)).json()
    class_url = f"/node/api/classes/{cls['id']}"
    op = await add_operation(api, admin, "classes", cls["id"])
    other_op = await add_operation(api, admin, "objects", world["ids"]["object"])

    # manage-classes is enough for triggers that run nothing ...
    response = await api.client.patch(class_url, json={"triggers": [MAIL]}, headers=manager)
    assert response.status_code == 200, response.text
    # ... one that runs an operation needs the right to run it ...
    ok = [{"type": "operation", "states": [5], "payload": {"operation": op}}]
    response = await api.client.patch(class_url, json={"triggers": ok}, headers=manager)
    assert_error(response, 403, "Forbidden", "Required permissions: execute-operations")
    runner = await api.user(
        "class-runner", permissions=["manage-classes", "execute-operations"], include=[]
    )
    assert (await api.client.patch(class_url, json={"triggers": ok}, headers=runner)).json()[
        "triggers"
    ] == ok
    # ... a script trigger needs manage-operations as well, on create and on PATCH.
    for method, target, body in (
        ("PATCH", class_url, {"triggers": [SCRIPT]}),
        ("POST", "/node/api/classes", {"name": "s", "triggers": [SCRIPT]}),
    ):
        response = await api.client.request(method, target, json=body, headers=manager)
        assert_error(response, 403, "Forbidden", "Required permissions: manage-operations")
    assert (
        await api.client.patch(class_url, json={"triggers": [SCRIPT]}, headers=admin)
    ).status_code == 200
    viewer = world["users"]["viewer"]
    response = await api.client.patch(class_url, json={"triggers": []}, headers=viewer)
    assert_error(response, 403, "Forbidden", "Required permissions: manage-classes")
    missing = await api.client.patch(
        "/node/api/classes/nothing", json={"triggers": []}, headers=admin
    )
    assert_error(missing, 404, "ResourceNotFound", "Entity not found: Class(nothing)")

    # Only the class's own operations: another entity's is refused, and nothing changes.
    bad = [{"type": "operation", "states": [5], "payload": {"operation": other_op}}]
    for method, target, body in (
        ("PATCH", class_url, {"triggers": bad}),
        ("POST", "/node/api/classes", {"name": "b", "triggers": bad}),
    ):
        response = await api.client.request(method, target, json=body, headers=admin)
        assert_error(response, 400, "BadRequest", contains=("triggers[0].payload.operation:",))
    for body, names in (
        ({"triggers": [{**MAIL, "states": [2]}]}, "triggers[0].states[0]: unknown state"),
        ({"triggers": {"a": 1}}, "triggers: must be an array"),
        ({"triggers": None}, "triggers: must not be null"),
        ({"name": None}, "name: must not be null"),
    ):
        response = await api.client.patch(class_url, json=body, headers=admin)
        assert_error(response, 400, "BadRequest", contains=(names,))
    kept = (await api.client.get(class_url, headers=admin)).json()
    assert kept["triggers"] == [SCRIPT]
    names = [c["name"] for c in (await api.client.get("/node/api/classes", headers=admin)).json()]
    assert "b" not in names and "s" not in names


# -- deliveries -----------------------------------------------------------------------------


async def add_delivery(api, entity_id: str, kind: EntityKind, fired_at: int, **fields) -> dict:
    row = {
        "id": new_id(),
        "firing_id": new_id(),
        "owner_id": entity_id,
        "owner_type": kind.value,
        "cause": "state",
        "change_id": new_id(),
        "type": "e-mail",
        "recipient": "ops@example.com",
        "status": "delivered",
        "job_id": None,
        "detail": None,
        "due_at": fired_at - 5,
        "fired_at": fired_at,
        "late": False,
        "attempts": 1,
        "finished": fired_at + 10,
        **fields,
    }
    async with api.store.write() as conn:
        await conn.execute(insert(trigger_deliveries).values(**row))
    return row


def as_document(row: dict) -> dict:
    return {
        "id": row["id"],
        "firingId": row["firing_id"],
        "cause": row["cause"],
        "changeId": row["change_id"],
        "type": row["type"],
        "recipient": row["recipient"],
        "status": row["status"],
        "jobId": row["job_id"],
        "detail": row["detail"],
        "dueAt": row["due_at"],
        "firedAt": row["fired_at"],
        "late": row["late"],
        "attempts": row["attempts"],
        "finished": row["finished"],
        "history": [],
    }


@pytest.mark.parametrize("kind", ["object", "link"])
async def test_deliveries_newest_first_paged_and_guarded(api, backend, world, kind):
    ids, users = world["ids"], world["users"]
    entity_id, hidden_id = ids[kind], ids[f"hidden_{kind}"]
    entity_kind = EntityKind.of_word(kind)
    start = now_ms()
    rows = [
        await add_delivery(api, entity_id, entity_kind, start + n, late=n == 2) for n in range(13)
    ]
    rows.append(
        await add_delivery(
            api,
            entity_id,
            entity_kind,
            start + 13,
            type="operation",
            status="queued",
            recipient=None,
            job_id=new_id(),
            finished=None,
        )
    )
    await add_delivery(api, hidden_id, entity_kind, start)
    newest = [as_document(r) for r in reversed(rows)]
    viewer = users["viewer"]  # sight is enough, as for jobs
    first = await api.client.get(url(kind, entity_id, "trigger-deliveries"), headers=viewer)
    assert first.status_code == 200, first.text
    assert first.json() == newest[:10]
    page = await api.client.get(
        url(kind, entity_id, "trigger-deliveries"), params={"limit": 5, "skip": 10}, headers=viewer
    )
    assert page.json() == newest[10:15]
    assert newest[0]["jobId"] and newest[0]["recipient"] is None
    assert [d["late"] for d in newest].count(True) == 1
    assert_error(
        await api.client.get(url(kind, entity_id, "trigger-deliveries")), 401, "Unauthorized"
    )
    label = kind.capitalize()
    for who, target in (("viewer", hidden_id), ("outsider", entity_id)):
        response = await api.client.get(url(kind, target, "trigger-deliveries"), headers=users[who])
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: {label}({target})")
    for params, name in (
        ({"limit": 1001}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"skip": 100_001}, "skip"),
        ({"skip": 2**63}, "skip"),
    ):
        response = await api.client.get(
            url(kind, entity_id, "trigger-deliveries"), params=params, headers=viewer
        )
        assert_error(response, 400, "BadRequest", contains=(f"{name}:",))


async def test_deliveries_by_discovery_id_and_of_a_deleted_object(api, backend, world):
    admin, viewer = world["users"]["admin"], world["users"]["viewer"]
    created = await api.client.post(
        "/node/api/objects",
        json={"name": "d", "discovery_id": "dev-9", "parent_id": world["ids"]["object"]},
        headers=admin,
    )
    object_id = created.json()["id"]
    row = await add_delivery(api, object_id, EntityKind.OBJECT, now_ms())
    by_ref = await api.client.get(
        url("object", "discovery%20id:dev-9", "trigger-deliveries"), headers=viewer
    )
    assert by_ref.json() == [as_document(row)]
    assert (
        await api.client.delete(f"/node/api/objects/{object_id}", headers=admin)
    ).status_code == 200
    # What a deleted object's triggers did stays for those who manage objects (docs/api.md §4).
    kept = await api.client.get(url("object", object_id, "trigger-deliveries"), headers=admin)
    assert kept.json() == [as_document(row)]
    gone = await api.client.get(url("object", object_id, "trigger-deliveries"), headers=viewer)
    assert_error(gone, 404, "ResourceNotFound", f"Entity not found: Object({object_id})")


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"", "body:"),
        (b"null", "triggers: must be an array"),
        (b"[", "Request body is not valid JSON"),
        (b'[{"type": "e-mail", "states": [1e400]}]', "not valid JSON"),
        (b"[" * 40 + b"]" * 40, "nested"),
    ],
)
async def test_bodies_that_are_not_arrays_of_triggers(api, backend, world, content, names):
    entity_id, admin = world["ids"]["link"], world["users"]["admin"]
    response = await api.client.put(url("link", entity_id), content=content, headers=admin)
    assert response.status_code == 400, response.text
    assert names in response.json()["message"], response.json()
