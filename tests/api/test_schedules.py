"""Schedules over HTTP (docs/api.md, "Schedules"): the document, who may read and change
whose, and hostile input answered 400 naming the field. (Every route × every caller is in
test_matrix.py; when schedules run is tests/service/test_schedule_runs.py.)"""

from __future__ import annotations

import pytest

from helpers import assert_error

OPERATION = {
    "name": "check",
    "type": 2,
    "parameters": {
        "type": "fileSystem",
        "path": "/bin/echo",
        "args": ["{{args.level}}"],
        "runner": "nowhere",
        "arguments": {"level": {"type": "integer", "required": True}},
    },
}
URL = "/node/api/schedules"


@pytest.fixture
async def world(api, backend):
    admin = await api.admin()
    site = await api.object("site")
    other = await api.object("other")
    ids = {"site": site, "other": other}
    for name in ("site", "other"):
        response = await api.client.post(
            f"/node/api/objects/{ids[name]}/operations", json=OPERATION, headers=admin
        )
        ids[f"{name}-op"] = response.json()["id"]
    headers = {
        "admin": admin,
        "alice": await api.user("alice", permissions=["execute-operations"], include=[site]),
        "bob": await api.user("bob", permissions=["execute-operations"], include=[site]),
        "lead": await api.user("lead", permissions=["manage-operations"], include=[site]),
        "viewer": await api.user("viewer", include=[site]),
    }
    return api, ids, headers


def body(ids, **fields) -> dict:
    return {
        "name": "hourly check",
        "operation": ids["site-op"],
        "target": {"object": ids["site"]},
        "args": {"level": 2},
        "interval": 3600,
        **fields,
    }


async def test_create_read_change_delete(world):
    api, ids, headers = world
    response = await api.client.post(URL, json=body(ids), headers=headers["alice"])
    assert response.status_code == 200, response.text
    made = response.json()
    alice = api.store.directory.by_login["alice"]
    assert {k: made[k] for k in ("name", "interval", "cron", "missed", "paused", "owner")} == {
        "name": "hourly check",
        "interval": 3600,
        "cron": None,
        "missed": "skip",
        "paused": False,
        "owner": alice,
    }
    assert made["target"] == {"object": ids["site"]} and made["args"] == {"level": 2}
    assert made["nextRunAt"] > made["created"]
    assert (made["lastRunAt"], made["lastJobId"], made["stoppedReason"]) == (None, None, None)
    one = f"{URL}/{made['id']}"
    assert (await api.client.get(one, headers=headers["alice"])).json() == made
    change = {"cron": "0 3 * * 1", "timezone": "Europe/Berlin", "missed": "run-once"}
    changed = (await api.client.patch(one, json=change, headers=headers["alice"])).json()
    assert (changed["cron"], changed["interval"], changed["timezone"]) == (
        "0 3 * * 1",
        None,
        "Europe/Berlin",
    )
    paused = (await api.client.post(f"{one}/pause", headers=headers["alice"])).json()
    assert (paused["paused"], paused["nextRunAt"]) == (True, None)
    resumed = (await api.client.post(f"{one}/resume", headers=headers["alice"])).json()
    assert resumed["paused"] is False and resumed["nextRunAt"] is not None
    assert (await api.client.delete(one, headers=headers["alice"])).status_code == 200
    assert_error(await api.client.get(one, headers=headers["alice"]), 404, "ResourceNotFound")


async def test_who_sees_and_changes_whose(world):
    api, ids, headers = world
    made = (await api.client.post(URL, json=body(ids), headers=headers["alice"])).json()
    one = f"{URL}/{made['id']}"
    # Another user without manage-operations: as if it did not exist.
    for verb, url in (("GET", one), ("PATCH", one), ("DELETE", one), ("POST", f"{one}/pause")):
        response = await api.client.request(verb, url, json={}, headers=headers["bob"])
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Schedule({made['id']})")
    assert (await api.client.get(URL, headers=headers["bob"])).json() == []
    # manage-operations and sight of the target: reads and changes it; the owner stays.
    assert [s["id"] for s in (await api.client.get(URL, headers=headers["lead"])).json()] == [
        made["id"]
    ]
    renamed = await api.client.patch(one, json={"name": "by lead"}, headers=headers["lead"])
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["owner"] == made["owner"]
    # The admin, with every right, sees everyone's.
    assert len((await api.client.get(URL, headers=headers["admin"])).json()) == 1
    # Seeing the target without execute-operations: no schedule may be made.
    response = await api.client.post(URL, json=body(ids), headers=headers["viewer"])
    assert_error(response, 403, "Forbidden", "Required permissions: execute-operations")


async def test_a_target_out_of_sight_is_not_found(world):
    api, ids, headers = world
    hidden = body(ids, target={"object": ids["other"]}, operation=ids["other-op"])
    response = await api.client.post(URL, json=hidden, headers=headers["alice"])
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({ids['other']})")
    made = (await api.client.post(URL, json=body(ids), headers=headers["alice"])).json()
    response = await api.client.patch(
        f"{URL}/{made['id']}", json={"target": {"object": ids["other"]}}, headers=headers["alice"]
    )
    assert_error(response, 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *", "interval": None}, "cron"),
        ({"cron": "* * * *", "interval": None}, "cron"),
        ({"cron": "0 0 30 2 *", "interval": None}, "cron"),
        ({"cron": "x" * 500, "interval": None}, "cron"),
        ({"cron": "0 * * * *"}, "cron"),  # both cron and interval
        ({"interval": None}, "cron"),  # neither
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus", "interval": None}, "timezone"),
        ({"cron": "0 * * * *", "timezone": "../../etc/passwd", "interval": None}, "timezone"),
        ({"interval": 0}, "interval"),
        ({"interval": -5}, "interval"),
        ({"interval": 10**12}, "interval"),
        ({"interval": 1.5}, "interval"),
        ({"interval": True}, "interval"),
        ({"interval": "60"}, "interval"),
        ({"missed": "all"}, "missed"),
        ({"paused": "yes"}, "paused"),
        ({"name": ""}, "name"),
        ({"name": "n" * 300}, "name"),
        ({"name": "bad\x1b[2Jname"}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"target": {"object": "x", "link": "y"}}, "target"),
        ({"target": "somewhere"}, "target"),
        ({"target": {"class": "1"}}, "target"),
        ({"operation": 7}, "operation"),
        ({"args": [1]}, "args"),
        ({"args": {"level": "high"}}, "args.level"),
        ({"args": {"level": 1, "extra": "x"}}, "args.extra"),
        ({"args": {}}, "args.level"),
        ({"owner": "0123456789abcdef01234567"}, "owner"),
        ({"color": "red"}, "color"),
    ],
)
async def test_hostile_input_is_refused_naming_the_field(world, change, field):
    api, ids, headers = world
    response = await api.client.post(URL, json=body(ids, **change), headers=headers["alice"])
    error = assert_error(response, 400, "BadRequest")
    assert error["message"].startswith(f"{field}:"), error["message"]
    assert (await api.client.get(URL, headers=headers["alice"])).json() == []


async def test_an_operation_of_another_entity_is_not_found(world):
    api, ids, headers = world
    admin = headers["admin"]
    wrong = body(ids, operation=ids["other-op"])
    response = await api.client.post(URL, json=wrong, headers=admin)
    assert_error(
        response, 404, "ResourceNotFound", f"Entity not found: Operation({ids['other-op']})"
    )


async def test_the_body_must_be_an_object(world):
    api, _ids, headers = world
    response = await api.client.post(URL, json=[1, 2], headers=headers["alice"])
    assert response.status_code == 400
    response = await api.client.post(
        URL, content=b"{not json", headers={**headers["alice"], "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_unknown_and_malformed_ids(world):
    api, _ids, headers = world
    for schedule_id in ("0123456789abcdef01234567", "not-an-id", "%2e%2e"):
        response = await api.client.get(f"{URL}/{schedule_id}", headers=headers["admin"])
        assert response.status_code in (400, 404), response.text
