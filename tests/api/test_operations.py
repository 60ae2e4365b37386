"""Operations, classes and stored scripts: the domain rules (domain/operations.py) and the
routes that manage them (api/routes/operations.py). Execution is in tests/api/test_execute.py."""

from __future__ import annotations

import pytest

from opsjobs.domain.errors import BadRequest
from opsjobs.domain.operations import (
    apply_update,
    reduced_view,
    render_spec,
    shown,
    validate_new,
)
from opsjobs.domain.rights import Rights
from opsjobs.domain.spec import ExecSpec, MqttSpec, ScriptSpec
from opsjobs.domain.templates import Values

MQTT_OP = {"name": "Notify", "type": 1, "parameters": {"topic": "t/{{id}}", "message": "hi"}}
FILE_OP = {
    "name": "Ping",
    "type": 2,
    "description": "ping it",
    "parameters": {"type": "fileSystem", "path": "/bin/ping", "args": ["-c", "1", "{{args.h}}"]},
}
TEXT_OP = {"name": "Say", "type": 2, "parameters": {"type": "scriptText", "text": "echo hi"}}


def assert_error(response, status: int, code: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message
    return body


# -- domain: validation ---------------------------------------------------------------------


def test_a_valid_operation_is_completed_with_defaults():
    clean = validate_new(
        {"name": "Ping", "type": 2, "parameters": {"type": "fileSystem", "path": "/bin/true"}}
    )
    assert clean == {
        "name": "Ping",
        "type": 2,
        "description": "",
        "parameters": {"type": "fileSystem", "path": "/bin/true", "args": []},
        "popupResult": False,
        "runOnReadWritePropertyModification": False,
    }


def test_extension_and_unknown_parameters_are_kept():
    document = {**TEXT_OP, "parameters": {**TEXT_OP["parameters"], "timeout": 1.5}}
    document["parameters"].update(runner="dmz", saymonExtra={"x": 1})
    assert validate_new(document)["parameters"] == {
        "type": "scriptText",
        "text": "echo hi",
        "timeout": 1.5,
        "runner": "dmz",
        "saymonExtra": {"x": 1},
    }


def _with(base: dict, **parameters) -> dict:
    return {**base, "parameters": {**base["parameters"], **parameters}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**TEXT_OP, "name": ""}, "name: must be a non-empty string"),
        ({**TEXT_OP, "name": 5}, "name: must be a non-empty string"),
        ({**TEXT_OP, "type": 3}, "type: must be 1 (MQTT) or 2 (program or script)"),
        ({**TEXT_OP, "type": True}, "type: must be 1 (MQTT) or 2 (program or script)"),
        ({**TEXT_OP, "description": 7}, "description: must be a string"),
        ({**TEXT_OP, "parameters": []}, "parameters: must be an object"),
        ({**TEXT_OP, "popupResult": "yes"}, "popupResult: must be true or false"),
        (
            {**MQTT_OP, "parameters": {"message": "m"}},
            "parameters.topic: must be a non-empty string",
        ),
        ({**MQTT_OP, "parameters": {"topic": "t"}}, "parameters.message: must be a string"),
        (_with(TEXT_OP, type="shell"), "parameters.type: must be one of fileSystem, "),
        (_with(FILE_OP, path=""), "parameters.path: must be a non-empty string"),
        (_with(FILE_OP, args="-c 1"), "parameters.args: must be an array of strings"),
        (_with(FILE_OP, args=["-c", 1]), "parameters.args[1]: must be a string"),
        (_with(FILE_OP, args=["a\0b"]), "parameters.args[0]: must not contain NUL characters"),
        (_with(TEXT_OP, text=""), "parameters.text: must be a non-empty string"),
        (_with(TEXT_OP, text="echo\0"), "parameters.text: must not contain NUL characters"),
        (
            {**TEXT_OP, "parameters": {"type": "scriptReference"}},
            "parameters.ref: must be a non-empty string",
        ),
        (_with(TEXT_OP, timeout=0), "parameters.timeout: must be a positive number of seconds"),
        (_with(TEXT_OP, timeout=-1), "parameters.timeout: must be a positive number"),
        (_with(TEXT_OP, timeout="5"), "parameters.timeout: must be a positive number"),
        (_with(TEXT_OP, timeout=True), "parameters.timeout: must be a positive number"),
        (_with(TEXT_OP, runner=""), "parameters.runner: must be a non-empty string"),
        (_with(TEXT_OP, runner=["a"]), "parameters.runner: must be a non-empty string"),
        (_with(TEXT_OP, runner="x" * 256), "parameters.runner: must be at most 255 characters"),
    ],
)
def test_an_invalid_operation_is_refused_naming_the_field(document, message):
    with pytest.raises(BadRequest) as caught:
        validate_new(document)
    assert caught.value.message.startswith(message)


def test_type_and_parameters_type_cannot_change():
    current = {"id": "x", **validate_new(FILE_OP)}
    with pytest.raises(BadRequest, match="^type: cannot change"):
        apply_update(current, {"type": 1})
    with pytest.raises(BadRequest, match="^parameters.type: cannot change"):
        apply_update(current, {"parameters": {"type": "scriptText", "text": "x"}})
    with pytest.raises(BadRequest, match="^parameters.type: cannot change"):
        apply_update(current, {"parameters": {"type": None}})


def test_parameters_are_merged_and_null_removes_a_key():
    current = {"id": "x", **validate_new(_with(FILE_OP, timeout=5, runner="dmz"))}
    updated = apply_update(current, {"type": 2, "parameters": {"timeout": 9, "runner": None}})
    assert updated["parameters"] == {**FILE_OP["parameters"], "timeout": 9}
    assert "id" not in updated


def test_an_update_is_validated_as_a_whole():
    current = {"id": "x", **validate_new(FILE_OP)}
    with pytest.raises(BadRequest, match="^parameters.timeout"):
        apply_update(current, {"parameters": {"timeout": -5}})
    with pytest.raises(BadRequest, match="^name"):
        apply_update(current, {"name": ""})


def test_callers_without_manage_operations_see_id_name_and_description():
    document = {"id": "x", **validate_new(FILE_OP)}
    assert reduced_view(document) == {"id": "x", "name": "Ping", "description": "ping it"}
    executor = Rights(frozenset({"execute-operations"}), frozenset(), frozenset())
    manager = Rights(frozenset({"manage-operations"}), frozenset(), frozenset())
    assert shown(executor, [document]) == [reduced_view(document)]
    assert shown(manager, [document]) == [document]


# -- domain: rendering a spec ---------------------------------------------------------------

VALUES = Values(entity_id="e1", properties={"ip": "10.0.0.1"}, args={"h": "a b"})


def test_mqtt_spec_is_rendered_raw():
    document = validate_new(_with(MQTT_OP, message='{"ip": "{{properties.ip}}"}'))
    assert render_spec(document, VALUES, default_timeout=60) == MqttSpec(
        topic="t/e1", message='{"ip": "10.0.0.1"}'
    )


def test_mqtt_topic_may_not_render_to_a_wildcard_or_nothing():
    document = validate_new(_with(MQTT_OP, topic="t/{{args.h}}"))
    for level in ("#", "+", "a/b", "/"):
        with pytest.raises(BadRequest, match="args.h holds /, \\+, # or NUL"):
            render_spec(document, Values("e1", args={"h": level}), default_timeout=60)
    document = validate_new(_with(MQTT_OP, topic="t/#"))
    with pytest.raises(BadRequest, match="wildcard"):
        render_spec(document, Values("e1"), default_timeout=60)
    document = validate_new(_with(MQTT_OP, topic="{{args.h}}"))
    with pytest.raises(BadRequest, match="empty topic"):
        render_spec(document, Values("e1", args={"h": ""}), default_timeout=60)


def test_file_system_spec_is_argv_with_the_default_timeout():
    spec = render_spec(validate_new(FILE_OP), VALUES, default_timeout=42)
    assert spec == ExecSpec(argv=["/bin/ping", "-c", "1", "a b"], timeout=42.0)


def test_script_text_spec_refers_to_values_in_its_environment_with_its_own_timeout():
    document = validate_new(_with(TEXT_OP, text="ping {{args.h}}", timeout=3))
    spec = render_spec(document, VALUES, default_timeout=60)
    assert spec == ScriptSpec(text='ping "${OPSJOBS_V1}"', timeout=3.0, env={"OPSJOBS_V1": "a b"})


def test_script_reference_spec_takes_the_stored_text():
    document = validate_new({**TEXT_OP, "parameters": {"type": "scriptReference", "ref": "s1"}})
    spec = render_spec(document, VALUES, default_timeout=60, script_text="echo {{args.h}}")
    assert spec == ScriptSpec(text='echo "${OPSJOBS_V1}"', timeout=60.0, env={"OPSJOBS_V1": "a b"})
    with pytest.raises(BadRequest, match="^parameters.ref: no such script s1"):
        render_spec(document, VALUES, default_timeout=60, script_text=None)


# -- routes: operations of objects and links ------------------------------------------------


async def _users(api):
    """admin (everything), a manager of objects but not operations, an executor, a stranger
    (every permission, sees nothing)."""
    admin = await api.admin()
    objects_only = await api.user("objects-only", permissions=["manage-objects"], include=["1"])
    executor = await api.user("executor", permissions=["execute-operations"], include=["1"])
    stranger = await api.user(
        "stranger", permissions=["manage-objects", "manage-links", "manage-operations"]
    )
    return admin, objects_only, executor, stranger


async def test_object_operation_lifecycle(api, backend):
    admin, *_ = await _users(api)
    host = await api.object("host")
    url = f"/node/api/objects/{host}/operations"

    created = await api.client.post(url, json=FILE_OP, headers=admin)
    assert created.status_code == 200, created.text
    operation = created.json()
    assert operation == {"id": operation["id"], **validate_new(FILE_OP)}

    listed = await api.client.get(url, headers=admin)
    assert listed.json() == [operation]
    document = (await api.client.get(f"/node/api/objects/{host}", headers=admin)).json()
    assert document["operations"] == [operation]

    patched = await api.client.patch(
        f"{url}/{operation['id']}",
        json={"name": "Ping twice", "parameters": {"args": ["-c", "2"], "timeout": 5}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ping twice"
    assert patched.json()["parameters"] == {
        "type": "fileSystem",
        "path": "/bin/ping",
        "args": ["-c", "2"],
        "timeout": 5,
    }
    assert (await api.client.get(url, headers=admin)).json() == [patched.json()]

    deleted = await api.client.delete(f"{url}/{operation['id']}", headers=admin)
    assert deleted.status_code == 200 and deleted.content == b""
    assert (await api.client.get(url, headers=admin)).json() == []
    again = await api.client.delete(f"{url}/{operation['id']}", headers=admin)
    assert_error(again, 404, "ResourceNotFound", f"Entity not found: Operation({operation['id']})")


async def test_link_operations(api, backend):
    admin, objects_only, *_ = await _users(api)
    link = await api.link(await api.object("a"), await api.object("b"))
    url = f"/node/api/links/{link}/operations"
    created = await api.client.post(url, json=MQTT_OP, headers=admin)
    assert created.status_code == 200, created.text
    assert (await api.client.get(url, headers=admin)).json() == [created.json()]
    assert_error(
        await api.client.post(url, json=MQTT_OP, headers=objects_only),
        403,
        "Forbidden",
        "Required permissions: manage-links and manage-operations",
    )
    document = (await api.client.get(f"/node/api/links/{link}", headers=admin)).json()
    assert document["operations"] == [created.json()]


async def test_managing_operations_needs_both_permissions(api, backend):
    admin, objects_only, executor, _ = await _users(api)
    host = await api.object("host")
    url = f"/node/api/objects/{host}/operations"
    operation = (await api.client.post(url, json=TEXT_OP, headers=admin)).json()
    ops_only = await api.user("ops-only", permissions=["manage-operations"], include=["1"])
    needed = "Required permissions: manage-objects and manage-operations"
    for headers in (objects_only, executor, ops_only):
        assert_error(
            await api.client.post(url, json=TEXT_OP, headers=headers), 403, "Forbidden", needed
        )
        assert_error(
            await api.client.patch(f"{url}/{operation['id']}", json={"name": "x"}, headers=headers),
            403,
            "Forbidden",
            needed,
        )
        assert_error(
            await api.client.delete(f"{url}/{operation['id']}", headers=headers),
            403,
            "Forbidden",
            needed,
        )


async def test_unauthenticated_calls_are_401(api, backend):
    host = await api.object("host")
    url = f"/node/api/objects/{host}/operations"
    for response in (
        await api.client.get(url),
        await api.client.post(url, json=TEXT_OP),
        await api.client.patch(f"{url}/0123456789abcdef01234567", json={}),
        await api.client.delete(f"{url}/0123456789abcdef01234567"),
        await api.client.get("/node/api/classes"),
        await api.client.get("/node/api/scripts"),
    ):
        assert_error(response, 401, "Unauthorized")


async def test_an_entity_the_caller_cannot_see_is_404_whatever_the_permissions(api, backend):
    admin, _, _, stranger = await _users(api)
    host = await api.object("host")
    link = await api.link(host, await api.object("other"))
    operation = (
        await api.client.post(f"/node/api/objects/{host}/operations", json=TEXT_OP, headers=admin)
    ).json()
    for kind, entity_id in (("Object", host), ("Link", link), ("Object", "not-an-id")):
        url = f"/node/api/{kind.lower()}s/{entity_id}/operations"
        message = f"Entity not found: {kind}({entity_id})"
        for response in (
            await api.client.get(url, headers=stranger),
            await api.client.post(url, json=TEXT_OP, headers=stranger),
            await api.client.patch(f"{url}/{operation['id']}", json={}, headers=stranger),
            await api.client.delete(f"{url}/{operation['id']}", headers=stranger),
        ):
            assert_error(response, 404, "ResourceNotFound", message)


async def test_an_unknown_or_malformed_operation_id_is_404(api, backend):
    admin, *_ = await _users(api)
    url = f"/node/api/objects/{await api.object('host')}/operations"
    for operation_id in ("0123456789abcdef01234567", "nope"):
        assert_error(
            await api.client.patch(f"{url}/{operation_id}", json={"name": "x"}, headers=admin),
            404,
            "ResourceNotFound",
            f"Entity not found: Operation({operation_id})",
        )


async def test_an_operation_of_another_entity_is_404(api, backend):
    admin, *_ = await _users(api)
    first, second = await api.object("first"), await api.object("second")
    operation = (
        await api.client.post(f"/node/api/objects/{first}/operations", json=TEXT_OP, headers=admin)
    ).json()
    response = await api.client.delete(
        f"/node/api/objects/{second}/operations/{operation['id']}", headers=admin
    )
    assert_error(response, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({**TEXT_OP, "name": ""}, "BadRequest", "name: "),
        ({k: v for k, v in TEXT_OP.items() if k != "name"}, "BadRequest", "name: Field required"),
        ({**TEXT_OP, "type": "2"}, "BadRequest", "type: "),
        ({**TEXT_OP, "type": True}, "BadRequest", "type: "),
        ({**TEXT_OP, "type": 5}, "BadRequest", "type: "),
        ({**TEXT_OP, "parameters": "echo"}, "BadRequest", "parameters: "),
        (_with(MQTT_OP, topic=""), "BadRequest", "parameters.topic: must be a non-empty string"),
        (_with(TEXT_OP, timeout=-1), "BadRequest", "parameters.timeout: must be a positive"),
        (
            {
                **TEXT_OP,
                "parameters": {"type": "scriptReference", "ref": "0123456789abcdef01234567"},
            },
            "BadRequest",
            "parameters.ref: no such script 0123456789abcdef01234567",
        ),
    ],
)
async def test_a_malformed_operation_is_400_naming_the_field(api, backend, body, code, message):
    admin = await api.admin()
    url = f"/node/api/objects/{await api.object('host')}/operations"
    response = await api.client.post(url, json=body, headers=admin)
    assert assert_error(response, 400, code)["message"].startswith(message)
    assert (await api.client.get(url, headers=admin)).json() == []


async def test_invalid_json_is_invalid_content(api, backend):
    admin = await api.admin()
    url = f"/node/api/objects/{await api.object('host')}/operations"
    response = await api.client.post(url, content=b'{"name": ', headers=admin)
    assert_error(response, 400, "InvalidContent")


async def test_patch_cannot_change_the_kind_of_an_operation(api, backend):
    admin = await api.admin()
    url = f"/node/api/objects/{await api.object('host')}/operations"
    operation = (await api.client.post(url, json=FILE_OP, headers=admin)).json()
    op_url = f"{url}/{operation['id']}"
    assert_error(
        await api.client.patch(op_url, json={"type": 1}, headers=admin),
        400,
        "BadRequest",
        "type: cannot change; create a new operation instead",
    )
    assert_error(
        await api.client.patch(
            op_url, json={"parameters": {"type": "scriptText", "text": "x"}}, headers=admin
        ),
        400,
        "BadRequest",
        "parameters.type: cannot change; create a new operation instead",
    )
    assert_error(
        await api.client.patch(op_url, json={"name": None}, headers=admin),
        400,
        "BadRequest",
        "name: must not be null",
    )
    assert (await api.client.get(url, headers=admin)).json() == [operation]


async def test_executors_see_the_reduced_view_everywhere(api, backend):
    admin, objects_only, executor, _ = await _users(api)
    host = await api.object("host")
    url = f"/node/api/objects/{host}/operations"
    operation = (await api.client.post(url, json=FILE_OP, headers=admin)).json()
    reduced = [{"id": operation["id"], "name": "Ping", "description": "ping it"}]
    for headers in (executor, objects_only):
        assert (await api.client.get(url, headers=headers)).json() == reduced
        document = (await api.client.get(f"/node/api/objects/{host}", headers=headers)).json()
        assert document["operations"] == reduced
        # A list holds operations when asked for them (they are not in SAYMON's default set).
        listed = await api.client.get("/node/api/objects?fields=operations", headers=headers)
        assert next(d for d in listed.json() if d["id"] == host)["operations"] == reduced
    assert (await api.client.get(url, headers=admin)).json() == [operation]


@pytest.mark.parametrize("kind", ["objects", "links"])
async def test_an_entity_is_made_with_its_operations_all_or_nothing(api, backend, kind):
    admin = await api.admin()
    host, other = await api.object("host"), await api.object("other")
    body = {"name": "made"} if kind == "objects" else {"source": host, "target": other}
    operations = [FILE_OP, MQTT_OP]
    created = await api.client.post(
        f"/node/api/{kind}", json={**body, "operations": operations}, headers=admin
    )
    assert created.status_code == 200, created.text
    document = created.json()
    assert [op["name"] for op in document["operations"]] == ["Ping", "Notify"]
    assert all(len(op["id"]) == 24 for op in document["operations"])
    listed = await api.client.get(f"/node/api/{kind}/{document['id']}/operations", headers=admin)
    assert listed.json() == document["operations"]
    # The operations run like any other.
    ping = document["operations"][0]["id"]
    run = await api.client.post(
        f"/node/api/{kind}/{document['id']}/operations/{ping}/execute",
        json={"h": "db-1"},
        headers=admin,
    )
    assert run.status_code == 200, run.text

    # One bad operation: a 400 naming it, and neither the entity nor any operation is made.
    before = (await api.client.get(f"/node/api/{kind}", headers=admin)).json()
    bad = [TEXT_OP, {**TEXT_OP, "name": ""}]
    refused = await api.client.post(
        f"/node/api/{kind}", json={**body, "operations": bad}, headers=admin
    )
    assert assert_error(refused, 400, "BadRequest")["message"].startswith("operations.1.name: ")
    script = {**TEXT_OP, "parameters": {"type": "scriptReference", "ref": "0" * 24}}
    refused = await api.client.post(
        f"/node/api/{kind}", json={**body, "operations": [script]}, headers=admin
    )
    assert_error(refused, 400, "BadRequest", f"parameters.ref: no such script {'0' * 24}")
    assert (await api.client.get(f"/node/api/{kind}", headers=admin)).json() == before


@pytest.mark.parametrize("kind", ["objects", "links"])
async def test_making_an_entity_with_operations_needs_manage_operations(api, backend, kind):
    host, other = await api.object("host"), await api.object("other")
    body = {"name": "made"} if kind == "objects" else {"source": host, "target": other}
    maker = await api.user("maker", permissions=["create-objects", "create-links"], include=["1"])
    refused = await api.client.post(
        f"/node/api/{kind}", json={**body, "operations": [FILE_OP]}, headers=maker
    )
    assert_error(refused, 403, "Forbidden", "Required permissions: manage-operations")
    admin = await api.admin()
    existing = (await api.client.get(f"/node/api/{kind}", headers=admin)).json()
    assert len(existing) == (3 if kind == "objects" else 0)  # the root, host, other: no more
    # Without operations the same caller may make it.
    made = await api.client.post(
        f"/node/api/{kind}", json={**body, "operations": []}, headers=maker
    )
    assert made.status_code == 200, made.text
    assert made.json()["operations"] == []


# -- routes: classes ------------------------------------------------------------------------


async def test_class_operations_are_inherited_by_its_objects_and_links(api, backend):
    admin = await api.admin()
    created = await api.client.post(
        "/node/api/classes", json={"name": "Linux host", "operations": [TEXT_OP]}, headers=admin
    )
    assert created.status_code == 200, created.text
    klass = created.json()
    inherited = klass["operations"][0]
    host = await api.object("host")
    other = await api.object("other")
    patched = await api.client.patch(
        f"/node/api/objects/{host}", json={"class_id": klass["id"]}, headers=admin
    )
    assert patched.json()["operations"] == [inherited]
    own = (
        await api.client.post(f"/node/api/objects/{host}/operations", json=FILE_OP, headers=admin)
    ).json()
    listed = (await api.client.get(f"/node/api/objects/{host}/operations", headers=admin)).json()
    assert listed == [own, inherited]
    assert (
        await api.client.get(f"/node/api/objects/{other}/operations", headers=admin)
    ).json() == []

    link = await api.link(host, other)
    await api.client.patch(f"/node/api/links/{link}", json={"class_id": klass["id"]}, headers=admin)
    assert (await api.client.get(f"/node/api/links/{link}/operations", headers=admin)).json() == [
        inherited
    ]
    # An inherited operation is changed through its class, not through the entity.
    assert_error(
        await api.client.patch(
            f"/node/api/objects/{host}/operations/{inherited['id']}",
            json={"name": "x"},
            headers=admin,
        ),
        404,
        "ResourceNotFound",
    )
    class_url = f"/node/api/classes/{klass['id']}/operations"
    added = await api.client.post(class_url, json=MQTT_OP, headers=admin)
    assert added.status_code == 200, added.text
    renamed = await api.client.patch(
        f"{class_url}/{inherited['id']}", json={"name": "Say more"}, headers=admin
    )
    assert renamed.json()["name"] == "Say more"
    names = [
        o["name"]
        for o in (await api.client.get(f"/node/api/objects/{host}", headers=admin)).json()[
            "operations"
        ]
    ]
    assert names == ["Ping", "Say more", "Notify"]

    assert (
        await api.client.delete(f"/node/api/classes/{klass['id']}", headers=admin)
    ).status_code == 200
    assert (await api.client.get(f"/node/api/objects/{host}/operations", headers=admin)).json() == [
        own
    ]
    assert_error(
        await api.client.get(f"/node/api/classes/{klass['id']}", headers=admin),
        404,
        "ResourceNotFound",
        f"Entity not found: Class({klass['id']})",
    )


async def test_classes_crud_and_rights(api, backend):
    admin = await api.admin()
    classes_only = await api.user("classes-only", permissions=["manage-classes"])
    executor = await api.user("executor", permissions=["execute-operations"])

    assert_error(
        await api.client.post("/node/api/classes", json={"name": "X"}, headers=executor),
        403,
        "Forbidden",
        "Required permissions: manage-classes",
    )
    assert_error(
        await api.client.post(
            "/node/api/classes", json={"name": "X", "operations": [TEXT_OP]}, headers=classes_only
        ),
        403,
        "Forbidden",
        "Required permissions: manage-classes and manage-operations",
    )
    created = await api.client.post(
        "/node/api/classes", json={"id": "25", "name": "Router"}, headers=classes_only
    )
    assert created.status_code == 200, created.text
    assert created.json()["id"] == "25" and created.json()["operations"] == []
    assert_error(
        await api.client.post("/node/api/classes", json={"id": "25", "name": "Dup"}, headers=admin),
        409,
        "Conflict",
    )
    listed = (await api.client.get("/node/api/classes", headers=executor)).json()
    assert [c["name"] for c in listed] == ["Router"]

    renamed = await api.client.patch(
        "/node/api/classes/25", json={"name": "Edge"}, headers=classes_only
    )
    assert renamed.json()["name"] == "Edge"
    assert_error(
        await api.client.patch("/node/api/classes/25", json={"name": "x"}, headers=executor),
        403,
        "Forbidden",
    )
    # Class operations need manage-operations as well.
    assert_error(
        await api.client.post(
            "/node/api/classes/25/operations", json=TEXT_OP, headers=classes_only
        ),
        403,
        "Forbidden",
        "Required permissions: manage-classes and manage-operations",
    )
    # A class that does not exist is 404 before any permission is looked at.
    for response in (
        await api.client.get("/node/api/classes/nope", headers=executor),
        await api.client.patch("/node/api/classes/nope", json={"name": "x"}, headers=executor),
        await api.client.delete("/node/api/classes/nope", headers=executor),
        await api.client.post("/node/api/classes/nope/operations", json=TEXT_OP, headers=executor),
        await api.client.get("/node/api/classes/nope/operations", headers=executor),
    ):
        assert_error(response, 404, "ResourceNotFound", "Entity not found: Class(nope)")
    assert_error(
        await api.client.delete("/node/api/classes/25", headers=executor), 403, "Forbidden"
    )
    assert (
        await api.client.delete("/node/api/classes/25", headers=classes_only)
    ).status_code == 200
    assert (await api.client.get("/node/api/classes", headers=admin)).json() == []


async def test_a_malformed_class_is_400_naming_the_field(api, backend):
    admin = await api.admin()
    for body, message in (
        ({}, "name: Field required"),
        ({"name": ""}, "name: "),
        ({"name": "X", "id": "has space"}, "id: "),
        (
            {"name": "X", "operations": [{"name": "a", "type": 2, "parameters": {}}]},
            "operations.0.parameters.type: ",
        ),
        (
            {"name": "X", "operations": [{"type": 2, "parameters": {}}]},
            "operations.0.name: Field required",
        ),
    ):
        response = await api.client.post("/node/api/classes", json=body, headers=admin)
        assert assert_error(response, 400, "BadRequest")["message"].startswith(message), body
    assert (await api.client.get("/node/api/classes", headers=admin)).json() == []


# -- routes: stored scripts -----------------------------------------------------------------


async def test_scripts_crud(api, backend):
    admin = await api.admin()
    created = await api.client.post(
        "/node/api/scripts", json={"name": "uptime", "text": "#!/bin/sh\nuptime"}, headers=admin
    )
    assert created.status_code == 200, created.text
    script = created.json()
    assert script["name"] == "uptime" and script["text"] == "#!/bin/sh\nuptime"
    assert (await api.client.get("/node/api/scripts", headers=admin)).json() == [script]
    assert (
        await api.client.get(f"/node/api/scripts/{script['id']}", headers=admin)
    ).json() == script
    patched = await api.client.patch(
        f"/node/api/scripts/{script['id']}", json={"text": "uptime -p"}, headers=admin
    )
    assert patched.json()["text"] == "uptime -p" and patched.json()["name"] == "uptime"

    url = f"/node/api/objects/{await api.object('host')}/operations"
    reference = {
        "name": "Up",
        "type": 2,
        "parameters": {"type": "scriptReference", "ref": script["id"]},
    }
    assert (await api.client.post(url, json=reference, headers=admin)).status_code == 200

    assert (
        await api.client.delete(f"/node/api/scripts/{script['id']}", headers=admin)
    ).status_code == 200
    assert_error(
        await api.client.get(f"/node/api/scripts/{script['id']}", headers=admin),
        404,
        "ResourceNotFound",
        f"Entity not found: Script({script['id']})",
    )


async def test_scripts_need_manage_scripts_before_anything_else(api, backend):
    admin = await api.admin()
    nearly = await api.user(
        "nearly",
        permissions=["manage-operations", "manage-objects", "manage-classes"],
        include=["1"],
    )
    missing = "0123456789abcdef01234567"
    for response in (
        await api.client.get("/node/api/scripts", headers=nearly),
        await api.client.post("/node/api/scripts", json={"name": "a", "text": "b"}, headers=nearly),
        await api.client.get(f"/node/api/scripts/{missing}", headers=nearly),
        await api.client.patch(f"/node/api/scripts/{missing}", json={"name": "a"}, headers=nearly),
        await api.client.delete(f"/node/api/scripts/{missing}", headers=nearly),
    ):
        assert_error(response, 403, "Forbidden", "Required permissions: manage-scripts")
    for response in (
        await api.client.get(f"/node/api/scripts/{missing}", headers=admin),
        await api.client.patch(f"/node/api/scripts/{missing}", json={"name": "a"}, headers=admin),
        await api.client.delete(f"/node/api/scripts/{missing}", headers=admin),
    ):
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Script({missing})")


async def test_a_malformed_script_is_400_naming_the_field(api, backend):
    admin = await api.admin()
    for body, message in (
        ({"name": "a"}, "text: Field required"),
        ({"name": "a", "text": ""}, "text: "),
        ({"name": "a", "text": 5}, "text: "),
        ({"name": "a", "text": "echo\u0000"}, "text: must not contain NUL characters"),
    ):
        response = await api.client.post("/node/api/scripts", json=body, headers=admin)
        assert assert_error(response, 400, "BadRequest")["message"].startswith(message), body
    assert (await api.client.get("/node/api/scripts", headers=admin)).json() == []


# -- the arguments a run takes (domain/operations.run_arguments) ----------------------------


def test_run_arguments_lists_declared_then_used_names_once_each():
    from opsjobs.domain.operations import run_arguments

    script = {
        "type": 2,
        "parameters": {
            "type": "scriptText",
            "text": 'echo "{{ args.b }}" "{{args.a}}" {{args.b}} {{properties.ip}} {{{{x}}}}',
            "arguments": {"z": {"type": "integer"}},
        },
    }
    assert run_arguments(script, None) == [
        {"name": "z", "declared": True, "type": "integer"},
        {"name": "b", "declared": False},
        {"name": "a", "declared": False},
    ]
    reference = {"type": 2, "parameters": {"type": "scriptReference", "ref": "s"}}
    assert run_arguments(reference, "echo {{args.w}}") == [{"name": "w", "declared": False}]
    assert run_arguments(reference, None) == []  # the script was deleted
    argv = {
        "type": 2,
        "parameters": {"type": "fileSystem", "path": "/bin/ls", "args": ["{{args.d}}"]},
    }
    assert run_arguments(argv, None) == [{"name": "d", "declared": False}]
    mqtt = {"type": 1, "parameters": {"topic": "t/{{args.t}}", "message": "{{args.m}} {{id}}"}}
    assert [a["name"] for a in run_arguments(mqtt, None)] == ["t", "m"]
