"""The audit log through the API (docs/api.md §18, docs/security.md "Audit log"): one row per
act, with who, from where and how it went; never a secret; read by user managers only."""

from __future__ import annotations

import base64

import orjson
import pytest

from conftest import basic
from helpers import assert_error, documented_operations
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.api.app import PREFIX
from opsjobs.api.audit import MAX_FAILURE_KEYS
from opsjobs.api.audited import NOT_RECORDED, RULES

AUDIT = "/node/api/audit"
SCRIPT = {"name": "hi", "type": 2, "parameters": {"type": "scriptText", "text": "echo hi"}}


async def rows(api, **params) -> list[dict]:
    admin = await _admin(api)
    response = await api.client.get(AUDIT, params=params, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _admin(api) -> dict[str, str]:
    if not hasattr(api, "_audit_admin"):
        api._audit_admin = await api.user("auditor", "auditor-password-77", ["manage-users"], ["1"])
    return api._audit_admin


async def only(api, kind: str, **params) -> dict:
    found = await rows(api, kind=kind, **params)
    assert len(found) == 1, found
    return found[0]


def test_every_changing_route_is_recorded_or_said_not_to_be() -> None:
    # The routes of the document: those not served (501, docs/api.md §17) are not in it.
    changing = {
        (method, path[len(PREFIX) :])
        for method, path in documented_operations()
        if method in ("POST", "PUT", "PATCH", "DELETE")
    }
    missing = sorted(changing - set(RULES) - set(NOT_RECORDED))
    assert not missing, f"changing routes the audit table does not name: {missing}"
    phantom = sorted((set(RULES) | set(NOT_RECORDED)) - changing)
    assert not phantom, f"audit rules for routes the app does not serve: {phantom}"


# -- logins -------------------------------------------------------------------------------


async def test_a_log_in_and_out_are_recorded_with_address_and_request_id(api) -> None:
    await api.user("ada", "ada-password-1234")
    response = await api.client.post(
        "/node/api/users/session", json={"login": "ada", "password": "ada-password-1234"}
    )
    assert response.status_code == 200
    login = await only(api, "auth.login", actor="ada")
    assert login["outcome"] == "ok" and login["status"] is None
    assert login["detail"] == {"method": "password"}
    assert login["target_type"] == "user" and login["target_id"] == login["actor_id"]
    assert login["address"] == "127.0.0.1"
    assert login["request_id"] == response.headers["x-request-id"]
    csrf = {"X-CSRF-Token": api.client.cookies["csrf"]}
    assert (await api.client.delete("/node/api/users/session", headers=csrf)).status_code == 200
    api.client.cookies.clear()
    logout = await only(api, "auth.logout")
    assert logout["actor_login"] == "ada" and logout["outcome"] == "ok"


async def test_a_failed_log_in_records_the_login_never_the_password(api) -> None:
    await api.user("bea", "bea-password-1234")
    wrong = "wrong-password-5678"
    response = await api.client.post(
        "/node/api/users/session", json={"login": "bea", "password": wrong}
    )
    assert response.status_code == 401
    failed = await only(api, "auth.login_failed")
    assert failed["actor_id"] is None and failed["actor_login"] is None
    assert (failed["target_type"], failed["target_id"]) == ("login", "bea")
    assert failed["outcome"] == "refused" and failed["status"] == 401
    assert failed["detail"] == {"method": "password", "count": 1}
    text = orjson.dumps(await rows(api)).decode()
    assert wrong not in text and "bea-password-1234" not in text


async def test_basic_failures_are_folded_per_login_address_and_second(api) -> None:
    await api.user("cy", "cy-password-1234")
    bad = basic("cy", "not-cy-password")
    for _ in range(5):
        await api.client.get("/node/api/users/current", headers=bad)
    failed = await rows(api, kind="auth.login_failed")
    # Five failures within at most two seconds: one row a second, counting them.
    assert 1 <= len(failed) <= 2
    assert sum(row["detail"]["count"] for row in failed) == 5
    assert all(row["detail"]["method"] == "basic" for row in failed)
    assert all(row["target_id"] == "cy" for row in failed)
    assert "not-cy-password" not in orjson.dumps(failed).decode()


async def test_a_malformed_basic_header_and_a_wrong_token_are_failed_log_ins(api) -> None:
    garbage = {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}
    assert (await api.client.get("/node/api/users/current", headers=garbage)).status_code == 401
    token = "f" * 40
    response = await api.client.get("/node/api/users/current", params={"auth-token": token})
    assert response.status_code == 401
    failed = await rows(api, kind="auth.login_failed")
    assert sorted(row["detail"]["method"] for row in failed) == ["basic", "token"]
    assert all(row["target_id"] is None for row in failed)
    assert token not in orjson.dumps(failed).decode()


async def test_basic_logs_in_once_while_its_credential_is_remembered(api) -> None:
    dee = await api.user("dee", "dee-password-1234")
    for _ in range(3):
        assert (await api.client.get("/node/api/users/current", headers=dee)).status_code == 200
    login = await only(api, "auth.login", actor="dee")
    assert login["detail"] == {"method": "basic"}


async def test_a_login_flood_is_a_bounded_number_of_rows(api) -> None:
    audit = api.ctx.audit
    for _ in range(5000):
        audit.login_failed("eve", "192.0.2.1", "basic", 401)
    for n in range(MAX_FAILURE_KEYS + 500):
        audit.login_failed(f"flooding-login-{n}", "192.0.2.2", "basic", 401)
    await audit.flush()
    failed = []
    while page := await rows(api, kind="auth.login_failed", limit=1000, skip=len(failed)):
        failed += page
    eve = [row for row in failed if row["target_id"] == "eve"]
    assert sum(row["detail"]["count"] for row in eve) == 5000 and len(eve) <= 2
    folded = [row for row in failed if row["detail"]["method"] == "many"]
    assert folded and all(row["target_id"] is None for row in folded)
    # The first MAX_FAILURE_KEYS pairs of a second have rows of their own; the rest are
    # counted in the folded rows: nothing is lost, and the rows stay bounded.
    assert sum(row["detail"]["count"] for row in failed) == 5000 + MAX_FAILURE_KEYS + 500
    assert len(failed) <= 2 * (MAX_FAILURE_KEYS + 2)


# -- executions, jobs ----------------------------------------------------------------------


async def _operation(api, admin, object_id: str) -> str:
    response = await api.client.post(
        f"/node/api/objects/{object_id}/operations", json=SCRIPT, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


async def test_execute_cancel_and_result_are_recorded(api) -> None:
    admin = await api.admin()
    box = await api.object("box")
    operation_id = await _operation(api, admin, box)
    path = f"/node/api/objects/{box}/operations/{operation_id}/execute"
    job_id = (await api.client.post(path, json={"who": "x"}, headers=admin)).json()
    executed = await only(api, "job.execute")
    assert (executed["target_type"], executed["target_id"]) == ("job", job_id)
    assert executed["detail"] == {
        "operation_id": operation_id,
        "entity": {"type": "object", "id": box},
    }
    await api.client.post(f"/node/api/jobs/{job_id}/cancel", headers=admin)
    cancel = await only(api, "job.cancel")
    assert cancel["target_id"] == job_id and cancel["actor_login"] == "admin"
    await api.client.patch(
        f"/node/api/jobs/{job_id}/results", json={"ticket": 7, "password": "p"}, headers=admin
    )
    result = await only(api, "job.result")
    assert result["target_id"] == job_id and result["detail"] == {"keys": ["password", "ticket"]}
    # Reading a job (the hot path), or anything else, is never recorded.
    before = await rows(api, limit=1000)
    for path in (f"/node/api/jobs/{job_id}", f"/node/api/jobs/{job_id}/output", "/node/api/tags"):
        assert (await api.client.get(path, headers=admin)).status_code == 200
    assert await rows(api, limit=1000) == before


# -- users ---------------------------------------------------------------------------------


async def test_user_changes_are_recorded_without_secrets(api) -> None:
    admin = await api.admin()
    secret = "new-user-password-9876"
    created = await api.client.post(
        "/node/api/users",
        json={"login": "fay", "password": secret, "permissions": ["execute-operations"]},
        headers=admin,
    )
    user_id = created.json()["id"]
    changed = "changed-password-5432"
    await api.client.patch(
        f"/node/api/users/{user_id}",
        json={"password": changed, "permissions": ["manage-objects"]},
        headers=admin,
    )
    token = (await api.client.post(f"/node/api/users/{user_id}/auth-token", headers=admin)).json()
    await api.client.delete(f"/node/api/users/{user_id}/auth-token", headers=admin)
    await api.client.delete(f"/node/api/users/{user_id}", headers=admin)
    create = await only(api, "user.create")
    assert create["target_id"] == user_id
    assert create["detail"]["login"] == "fay"
    assert create["detail"]["permissions"] == ["execute-operations"]
    update = await only(api, "user.update")
    assert update["detail"]["fields"] == ["password", "permissions"]
    assert update["detail"]["permissions"] == ["manage-objects"]
    for kind in ("user.token_issue", "user.token_revoke", "user.delete"):
        assert (await only(api, kind))["target_id"] == user_id
    text = orjson.dumps(await rows(api)).decode()
    for value in (secret, changed, token):
        assert value not in text


async def test_a_refused_change_is_recorded_with_its_status(api) -> None:
    admin = await api.admin()
    gil = await api.user("gil", "gil-password-1234", ["execute-operations"])
    target = (await api.client.get("/node/api/users/current", headers=admin)).json()["id"]
    response = await api.client.delete(f"/node/api/users/{target}", headers=gil)
    assert response.status_code == 403
    refused = await only(api, "user.delete")
    assert refused["outcome"] == "refused" and refused["status"] == 403
    assert refused["actor_login"] == "gil" and refused["target_id"] == target


async def test_state_and_trigger_changes_are_recorded_without_recipients(api) -> None:
    admin = await api.admin()
    host = await api.object("web-1")
    mail = [{"states": [5], "type": "e-mail", "payload": {"to": "noc@example.org"}}]
    base = f"/node/api/objects/{host}"
    assert (await api.client.put(f"{base}/state-triggers", json=mail, headers=admin)).is_success
    assert (await api.client.put(f"{base}/state", json={"state_id": 5}, headers=admin)).is_success
    triggers = await only(api, "object.triggers")
    assert triggers["target_id"] == host and triggers["detail"] == {"types": ["e-mail"]}
    assert "noc@example.org" not in str(triggers)
    state = await only(api, "object.state")
    assert state["detail"] == {"state_id": 5} and state["actor_login"] == "admin"


async def test_schedule_changes_are_recorded(api) -> None:
    admin = await api.admin()
    host = await api.object("web-1")
    document = {"name": "r", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    made = await api.client.post(
        f"/node/api/objects/{host}/operations", json=document, headers=admin
    )
    body = {"name": "nightly", "operation": made.json()["id"], "target": {"object": host},
            "cron": "0 3 * * *"}  # fmt: skip
    created = await api.client.post("/node/api/schedules", json=body, headers=admin)
    assert created.status_code == 200, created.text
    schedule = created.json()["id"]
    assert (
        await api.client.post(f"/node/api/schedules/{schedule}/pause", headers=admin)
    ).is_success
    assert (await api.client.delete(f"/node/api/schedules/{schedule}", headers=admin)).is_success
    assert (await only(api, "schedule.create"))["target_id"] == schedule
    assert (await only(api, "schedule.pause"))["target_id"] == schedule
    assert (await only(api, "schedule.delete"))["target_id"] == schedule


async def test_a_change_without_credentials_leaves_no_row(api) -> None:
    await api.admin()
    response = await api.client.delete("/node/api/objects/1")
    assert response.status_code == 401
    assert await rows(api, kind="object.") == []


async def test_group_changes_are_recorded(api) -> None:
    admin = await api.admin()
    response = await api.client.post(
        "/node/api/groups", json={"name": "ops", "permissions": ["run-bulks"]}, headers=admin
    )
    group = await only(api, "group.create")
    assert group["target_id"] == response.json()["id"]
    assert group["detail"]["name"] == "ops" and group["detail"]["permissions"] == ["run-bulks"]


# -- entities and catalogue ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("collection", "kind", "create", "change"),
    [
        ("objects", "object", {"name": "a"}, {"name": "b"}),
        ("classes", "class", {"name": "a"}, {"name": "b"}),
        ("scripts", "script", {"name": "a", "text": "echo a"}, {"text": "echo b"}),
        ("tags", "tag", {"name": "a"}, {"name": "b"}),
    ],
)
async def test_create_change_and_delete_are_recorded(api, collection, kind, create, change):
    admin = await api.admin()
    base = f"/node/api/{collection}"
    made = await api.client.post(base, json=create, headers=admin)
    assert made.status_code == 200, made.text
    entity_id = made.json()["id"]
    assert (await api.client.patch(f"{base}/{entity_id}", json=change, headers=admin)).is_success
    assert (await api.client.delete(f"{base}/{entity_id}", headers=admin)).is_success
    found = await rows(api, kind=f"{kind}.")
    assert [row["kind"] for row in found] == [f"{kind}.delete", f"{kind}.update", f"{kind}.create"]
    assert {row["target_id"] for row in found} == {entity_id}
    assert found[1]["detail"]["fields"] == sorted(change)


async def test_link_property_and_operation_changes_are_recorded(api) -> None:
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link_id = (
        await api.client.post("/node/api/links", json={"source": a, "target": b}, headers=admin)
    ).json()["id"]
    props = f"/node/api/links/{link_id}/props"
    prop_id = (
        await api.client.post(props, json={"name": "n", "value": "1"}, headers=admin)
    ).json()["id"]
    await api.client.patch(f"{props}/{prop_id}", json={"value": "2"}, headers=admin)
    await api.client.delete(f"{props}/{prop_id}", headers=admin)
    operation_id = await _operation(api, admin, a)
    operations = f"/node/api/objects/{a}/operations/{operation_id}"
    await api.client.patch(operations, json={"name": "renamed"}, headers=admin)
    await api.client.delete(operations, headers=admin)
    await api.client.patch(f"/node/api/links/{link_id}", json={"weight": 2}, headers=admin)
    await api.client.delete(f"/node/api/links/{link_id}", headers=admin)
    assert (await only(api, "link.create"))["target_id"] == link_id
    assert (await only(api, "link.update"))["detail"] == {"fields": ["weight"]}
    assert (await only(api, "link.delete"))["target_id"] == link_id
    for kind in ("property.create", "property.update", "property.delete"):
        row = await only(api, kind)
        assert row["target_id"] == prop_id
        assert row["detail"]["owner"] == {"type": "link", "id": link_id}
    for kind in ("operation.create", "operation.update", "operation.delete"):
        row = await only(api, kind)
        assert row["target_id"] == operation_id
        assert row["detail"]["owner"] == {"type": "object", "id": a}


# -- reading -------------------------------------------------------------------------------


async def test_reading_needs_manage_users(api) -> None:
    assert_error(await api.client.get(AUDIT), 401, "Unauthorized")
    hal = await api.user("hal", "hal-password-1234", ["manage-objects", "execute-operations"])
    assert_error(await api.client.get(AUDIT, headers=hal), 403, "Forbidden")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"skip": "-1"}, "skip"),
        ({"from": "-5"}, "from"),
        ({"to": str(2**63)}, "to"),
        ({"kind": "k" * 256}, "kind"),
        ({"kind": ""}, "kind"),
        ({"actor": "a" * 256}, "actor"),
        ({"from": "1e400"}, "from"),
    ],
)
async def test_hostile_parameters_are_refused_by_name(api, params, named) -> None:
    admin = await _admin(api)
    response = await api.client.get(AUDIT, params=params, headers=admin)
    assert_error(response, 400, "BadRequest", contains=(named,))


async def test_filters_and_paging(api) -> None:
    admin = await api.admin()
    await api.user("ivo", "ivo-password-1234")
    for name in ("t1", "t2", "t3"):
        await api.client.post("/node/api/tags", json={"name": name}, headers=admin)
    tags = await rows(api, kind="tag.create")
    assert len(tags) == 3
    assert [row["at"] for row in tags] == sorted((row["at"] for row in tags), reverse=True)
    assert await rows(api, kind="tag.") == tags
    assert await rows(api, kind="tag") == []  # no dot: an exact kind
    assert await rows(api, kind="tag.create", limit=1, skip=1) == [tags[1]]
    assert await rows(api, actor="admin", kind="tag.create") == tags
    assert await rows(api, actor=tags[0]["actor_id"], kind="tag.create") == tags
    assert await rows(api, actor="ivo") == []
    oldest = tags[-1]["at"]
    assert await rows(api, kind="tag.create", to=oldest - 1) == []
    assert len(await rows(api, kind="tag.create", **{"from": oldest})) == 3
    assert await rows(api, kind="%") == [] and await rows(api, kind="_ag.") == []


async def test_rows_held_at_shutdown_are_written(database_url) -> None:
    from helpers import app_client

    async with app_client(database_url) as api:
        api.ctx.audit.login_failed("late", "192.0.2.9", "basic", 401)
    async with app_client(database_url) as api:
        found = await rows(api, kind="auth.login_failed")
    assert [row["target_id"] for row in found] == ["late"]


async def test_a_login_no_database_could_store_is_still_recorded(database_url, backend) -> None:
    from helpers import app_client

    header = base64.b64encode(b"nul\0login:whatever-password").decode()
    async with app_client(database_url) as api:
        response = await api.client.get(
            "/node/api/users/current", headers={"Authorization": f"Basic {header}"}
        )
        assert response.status_code == 401
        (failed,) = await rows(api, kind="auth.login_failed")
    assert failed["target_id"] == "nul\ufffdlogin"


async def test_rows_wait_out_a_locked_database(database_url) -> None:
    import sqlite3

    from opsjobs.api.audit import AuditLog
    from opsjobs.domain.audit import AuditEntry
    from opsjobs.store.audit import AuditQuery, read_audit
    from opsjobs.store.core import Store

    store = Store(database_url, timeout=0.2)
    await store.open()
    try:
        audit = AuditLog(store)
        audit.add(AuditEntry("job.cancel", target_type="job", target_id="j" * 24))
        locker = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(Exception, match="locked"):
                await audit.flush()
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await audit.flush()  # the row was kept, and is written now
        found = await read_audit(store, AuditQuery())
        assert [row["target_id"] for row in found] == ["j" * 24]
    finally:
        await store.close()


def test_rows_held_too_long_are_dropped_oldest_first(monkeypatch) -> None:
    from opsjobs.api import audit as recorder
    from opsjobs.domain.audit import AuditEntry

    monkeypatch.setattr(recorder, "MAX_PENDING", 100)
    audit = recorder.AuditLog(store=None)
    for n in range(101):
        audit.add(AuditEntry("job.cancel", target_id=str(n)))
    assert audit.dropped == 11
    assert [e.target_id for e in audit._pending] == [str(n) for n in range(11, 101)]
