"""POST /node/api/alerts/alertmanager (docs/api.md, "Alerts that set states"): Alertmanager's
webhook payload sets states through the real app, triggers fire; a malformed payload changes
nothing; rights; hostile labels."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from sqlalchemy import func, select

import log_secrets
from helpers import app_client
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import entities, operations, triggers, users
from opsjobs.store.schema import links, objects, state_history

pytestmark = pytest.mark.usefixtures("backend")

URL = "/node/api/alerts/alertmanager"


def _alert(status: str = "firing", fingerprint: str = "f1", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": "HostDown", **labels},
        "annotations": {"summary": "down"},
        "startsAt": "2026-12-04T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def _payload(*alerts: dict, status: str = "firing") -> dict:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HostDown"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "opsjobs",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


async def _token_of(api, login: str, permissions: list[str], include: list[str]) -> dict:
    user = await users.create_user(
        api.store,
        login=login,
        password_hash=api.ctx.passwords.hash("pw-" + secrets.token_hex(8)),
        permissions=permissions,
        include=include,
    )
    token = secrets.token_hex(20)
    log_secrets.register(token, "API token")
    await users.set_token(api.store, user["id"], token)
    return {"auth-token": token, "user_id": user["id"]}


async def _post(api, token: dict | None, body) -> tuple[int, object]:
    params = {"auth-token": token["auth-token"]} if token else {}
    if isinstance(body, bytes):
        response = await api.client.post(
            URL, content=body, params=params, headers={"content-type": "application/json"}
        )
    else:
        response = await api.client.post(URL, json=body, params=params)
    return response.status_code, response.json()


async def _state(api, table, entity_id: str) -> int:
    async with api.store.read() as conn:
        query = select(table.c.state_id).where(table.c.id == entity_id)
        return (await conn.execute(query)).scalar_one()


async def _history_count(api) -> int:
    async with api.store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(state_history))).scalar_one()


async def test_firing_then_resolved_sets_the_state_and_fires_the_trigger(api):
    admin = await api.admin()
    host = await api.object("web-1")
    token = await _token_of(api, "alerter", ["modify-objects"], [host])
    page = {"name": "page", "type": 2, "parameters": {"type": "scriptText", "text": "echo paged"}}
    made = await operations.create_operation(api.store, "object", host, page)
    on_alarm = {"states": [5], "type": "operation", "payload": {"operation": made["id"]}}
    await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [on_alarm])

    status, answer = await _post(api, token, _payload(_alert(opsjobs_id=host, severity="critical")))
    assert status == 200, answer
    assert answer == [{"fingerprint": "f1", "entity": host, "state": 5, "outcome": "changed"}]
    assert await _state(api, objects, host) == 5
    deadline = time.monotonic() + 30
    while True:
        jobs = (
            await api.client.post("/node/api/jobs", json={"objects": [host]}, headers=admin)
        ).json()
        done = [j for j in jobs if j["execution"]["status"] == "succeeded"]
        if done or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    (job,) = done
    assert job["operation_id"] == made["id"] and job["process_meta"]["stateChange"]["to"] == 5

    again = _payload(_alert(opsjobs_id=host, severity="critical"))
    assert (await _post(api, token, again))[1][0]["outcome"] == "unchanged"
    resolved = _payload(_alert("resolved", opsjobs_id=host, severity="critical"), status="resolved")
    status, answer = await _post(api, token, resolved)
    assert answer == [{"fingerprint": "f1", "entity": host, "state": 3, "outcome": "changed"}]
    assert await _state(api, objects, host) == 3
    async with api.store.read() as conn:
        rows = (
            await conn.execute(
                select(state_history.c.state_id, state_history.c.user_id)
                .where(state_history.c.owner_id == host, state_history.c.state_id != 1)
                .order_by(state_history.c.timestamp)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(5, token["user_id"]), (3, token["user_id"])]


async def test_states_by_alert_name_severity_default_and_discovery_id(database_url):
    states = (
        '{"severity": {"warning": 4}, "alertname": {"DiskFull": 8}, "default": 7, "resolved": 3}'
    )
    async with app_client(database_url, alert_states=states) as api:
        a = await api.object("a")
        b = (
            await entities.create_object(
                api.store, name="b", parent_ids=["1"], fields={"discovery_id": "host-b"}
            )
        )["id"]
        c = await api.object("c")
        token = await _token_of(api, "alerter", ["manage-objects"], ["1"])
        payload = _payload(
            _alert(fingerprint="1", opsjobs_id=a, alertname="DiskFull", severity="warning"),
            _alert(fingerprint="2", opsjobs_discovery_id="host-b", severity="warning"),
            _alert(fingerprint="3", opsjobs_id=c, severity="page"),
        )
        status, answer = await _post(api, token, payload)
        assert status == 200, answer
        assert [(r["entity"], r["state"], r["outcome"]) for r in answer] == [
            (a, 8, "changed"),
            (b, 4, "changed"),
            (c, 7, "changed"),
        ]
        assert [await _state(api, objects, e) for e in (a, b, c)] == [8, 4, 7]


async def test_a_malformed_payload_is_a_400_and_changes_nothing(api):
    host = await api.object("web-1")
    token = await _token_of(api, "alerter", ["modify-objects"], [host])
    good = _alert(opsjobs_id=host)
    before = await _history_count(api)
    bad = [
        (b'{"alerts": [', "InvalidContent"),
        (b"[]", "body"),
        ({"alerts": "x"}, "alerts: must be an array"),
        ({"version": "3", "alerts": [good]}, "version"),
        (_payload(*[good] * 1001), "alerts: at most 1000"),
        (_payload(_alert(opsjobs_id=host + "\u0000")), "NUL"),
    ]
    for body, said in bad:
        status, answer = await _post(api, token, body)
        assert status == 400, (body, answer)
        assert said in answer["code"] + answer["message"], answer
    assert await _state(api, objects, host) == 1
    assert await _history_count(api) == before


async def test_rights(api):
    seen = await api.object("seen")
    hidden = await api.object("hidden")
    other = await api.object("other")
    link = await api.link(seen, other)
    payload = _payload(
        _alert(fingerprint="1", opsjobs_id=seen),
        _alert(fingerprint="2", opsjobs_id=hidden),
        _alert(fingerprint="3", opsjobs_id=link),
    )
    assert (await _post(api, None, payload))[0] == 401
    bad_token = {"auth-token": secrets.token_hex(20)}
    log_secrets.register(bad_token["auth-token"], "API token")
    assert (await _post(api, bad_token, payload))[0] == 401
    bearer = {"authorization": f"Bearer {bad_token['auth-token']}"}
    response = await api.client.post(URL, json=payload, headers=bearer)
    assert response.status_code == 401 and "Invalid API token" in response.text
    reader = await _token_of(api, "reader", ["execute-operations"], ["1"])
    status, answer = await _post(api, reader, payload)
    assert status == 403 and "modify-objects" in answer["message"]
    token = await _token_of(api, "alerter", ["modify-objects"], [seen, other])
    status, answer = await _post(api, token, payload)
    assert status == 200
    assert [(r["entity"], r["outcome"]) for r in answer] == [
        (seen, "changed"),
        (hidden, "unknown-entity"),  # out of sight: as if it did not exist
        (link, "refused"),  # seen, but changing a link needs modify-links
    ]
    assert await _state(api, objects, hidden) == 1
    assert await _state(api, links, link) == 1
    assert await _state(api, objects, seen) == 5
    # Alertmanager's http_config.authorization: the token as a Bearer header.
    resolved = _payload(_alert("resolved", fingerprint="1", opsjobs_id=seen))
    headers = {"authorization": f"Bearer {token['auth-token']}"}
    response = await api.client.post(URL, json=resolved, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()[0]["outcome"] == "changed"
    assert await _state(api, objects, seen) == 3


async def test_hostile_labels_are_reported_and_the_rest_applied(api):
    host = await api.object("web-1")
    token = await _token_of(api, "alerter", ["modify-objects"], ["1"])
    payload = _payload(
        _alert(fingerprint="huge", opsjobs_id="x" * 100_000),
        _alert(fingerprint="path", opsjobs_id="../../etc/passwd"),
        _alert(fingerprint="disc", opsjobs_discovery_id="' OR 1=1 --"),
        _alert(fingerprint="nolabel"),
        {"status": "firing", "labels": ["opsjobs_id", host], "fingerprint": "list"},
        {"status": "burning", "labels": {"opsjobs_id": host}, "fingerprint": "status"},
        _alert(fingerprint="x" * 1000, opsjobs_id=host),
        _alert(fingerprint="num", opsjobs_id=12),
        "not an alert",
        _alert(fingerprint="ok", opsjobs_id=host, severity="warning"),
    )
    status, answer = await _post(api, token, payload)
    assert status == 200, answer
    assert [(r["fingerprint"], r["outcome"]) for r in answer] == [
        ("huge", "malformed"),
        ("path", "unknown-entity"),
        ("disc", "unknown-entity"),
        ("nolabel", "malformed"),
        ("list", "malformed"),
        ("status", "malformed"),
        (None, "changed"),  # a fingerprint too long is not echoed
        ("num", "malformed"),
        (None, "malformed"),
        ("ok", "changed"),  # 5, then 4: in the order of the payload
    ]
    assert all(len(r["entity"] or "") < 300 for r in answer)
    assert answer[0]["reason"].startswith("labels:")
    assert await _state(api, objects, host) == 4
