"""Batches over HTTP (docs/api.md §21): targets as the caller sees them (and nothing about the
others), the concurrency limit, the stop rule, cancel, who may read whose, and hostile
bodies answered 400 naming the field. The server's own dispatcher queues the jobs; their
runner tag keeps the embedded runner off them, so the test claims and ends them itself."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from helpers import assert_error
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.outcome import Outcome
from opsjobs.store import queue

URL = "/node/api/batches"
TAG = "nowhere"
RUNNER = "test-runner"
OPERATION = {
    "name": "check",
    "type": 2,
    "parameters": {
        "type": "fileSystem",
        "path": "/bin/echo",
        "args": ["{{args.level}}"],
        "runner": TAG,
        "arguments": {"level": {"type": "integer", "required": True}},
    },
}
BULK = ["run-bulks", "execute-operations"]


@pytest.fixture
async def world(api, backend):
    """site ── a, b, c, d (class "node"), hidden (excluded for alice) ── below (also "node");
    other ── far ("node", out of alice's sight)."""
    admin = await api.admin()
    response = await api.client.post("/node/api/classes", json={"name": "node"}, headers=admin)
    node = response.json()["id"]
    response = await api.client.post(
        f"/node/api/classes/{node}/operations", json=OPERATION, headers=admin
    )
    op = response.json()["id"]
    ids = {"node": node, "op": op, "site": await api.object("site")}
    for name in ("a", "b", "c", "d", "hidden"):
        ids[name] = await api.object(name, ids["site"])
    ids["below"] = await api.object("below", ids["hidden"])
    ids["other"] = await api.object("other")
    ids["far"] = await api.object("far", ids["other"])
    for name in ("a", "b", "c", "d", "below", "far"):
        response = await api.client.patch(
            f"/node/api/objects/{ids[name]}", json={"class_id": node}, headers=admin
        )
        assert response.status_code == 200, response.text
    see = {"include": [ids["site"]], "exclude": [ids["hidden"]]}
    headers = {
        "admin": admin,
        "alice": await api.user("alice", permissions=BULK, **see),
        "bob": await api.user("bob", permissions=BULK, **see),
        "lead": await api.user("lead", permissions=["manage-operations"], include=["1"]),
        "narrow": await api.user("narrow", permissions=["manage-operations"], include=[ids["a"]]),
        "no_bulks": await api.user("nb", permissions=["execute-operations"], **see),
        "no_exec": await api.user("ne", permissions=["run-bulks"], **see),
    }
    return api, ids, headers


def body(ids, **fields) -> dict:
    return {
        "operation": ids["op"],
        "target": {"subtree": ids["site"]},
        "args": {"level": 2},
        **fields,
    }


async def _until(read, check, seconds: float = 10.0):
    """``read()`` until ``check`` holds of it (the dispatcher works beside the test)."""
    for _ in range(int(seconds / 0.05)):
        found = await read()
        if check(found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {found}")


async def _batch(api, headers, batch_id):
    response = await api.client.get(f"{URL}/{batch_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _end_jobs(api, status: JobStatus, most: int) -> list[str]:
    claimed = await queue.claim_many(api.store, RUNNER, [TAG], most)
    for job in claimed:
        await queue.finish(api.store, RUNNER, job.id, Outcome(status, {}))
    return [job.id for job in claimed]


async def test_a_subtree_runs_on_what_the_caller_sees(world):
    api, ids, headers = world
    response = await api.client.post(URL, json=body(ids, name="nightly"), headers=headers["alice"])
    assert response.status_code == 202, response.text
    made = response.json()
    assert list(made)[0] == "id"
    assert made["status"] == "running" and made["name"] == "nightly"
    assert made["owner"] == api.store.directory.by_login["alice"]
    # Nothing about what alice may not see: not hidden, below it, nor far.
    for name in ("hidden", "below", "far", "other"):
        assert ids[name] not in response.text
    # The site itself is not of the class: skipped with the reason, and counted.
    assert made["skipped"] == [
        {
            "entity": {"object": ids["site"]},
            "reason": "the operation is not the object's own nor its class's",
        }
    ]
    done = await _until(
        lambda: _batch(api, headers["alice"], made["id"]), lambda b: len(b["jobs"]) == 4
    )
    assert {j["entity"]["object"] for j in done["jobs"]} == {ids[n] for n in "abcd"}
    assert done["counts"]["skipped"] == 1 and done["counts"]["waiting"] == 0
    row = await api.store.job_row(done["jobs"][0]["id"])
    assert orjson.loads(row.process_meta) == {"batch": {"id": made["id"], "name": "nightly"}}
    assert row.user_id == made["owner"]
    await _end_jobs(api, JobStatus.SUCCEEDED, 10)
    done = await _until(
        lambda: _batch(api, headers["alice"], made["id"]), lambda b: b["status"] == "finished"
    )
    assert done["counts"]["succeeded"] == 4 and done["finishedAt"] is not None


async def test_never_more_than_concurrency_jobs_at_once(world):
    api, ids, headers = world
    made = (
        await api.client.post(URL, json=body(ids, concurrency=2), headers=headers["alice"])
    ).json()
    seen_ended = 0
    while seen_ended < 4:
        left = 4 - seen_ended
        state = await _until(
            lambda: _batch(api, headers["alice"], made["id"]),
            lambda b: (
                b["counts"]["queued"] + b["counts"]["running"] == min(2, left)  # noqa: B023
                or b["status"] == "finished"
            ),
        )
        counts = state["counts"]
        assert counts["queued"] + counts["running"] <= 2, counts
        assert counts["waiting"] == 4 - seen_ended - counts["queued"] - counts["running"]
        seen_ended += len(await _end_jobs(api, JobStatus.SUCCEEDED, 1))
    done = await _until(
        lambda: _batch(api, headers["alice"], made["id"]), lambda b: b["status"] == "finished"
    )
    assert done["counts"]["succeeded"] == 4


async def test_the_stop_rule(world):
    api, ids, headers = world
    made = (
        await api.client.post(
            URL, json=body(ids, concurrency=1, stopAfterFailures=2), headers=headers["alice"]
        )
    ).json()
    for status in (JobStatus.FAILED, JobStatus.SUCCEEDED, JobStatus.TIMEOUT):
        await _until(
            lambda: _batch(api, headers["alice"], made["id"]), lambda b: b["counts"]["queued"] == 1
        )
        await _end_jobs(api, status, 1)
    done = await _until(
        lambda: _batch(api, headers["alice"], made["id"]), lambda b: b["status"] == "stopped"
    )
    counts = done["counts"]
    assert (counts["failed"], counts["succeeded"], counts["timeout"]) == (1, 1, 1)
    assert (counts["notQueued"], counts["waiting"], counts["queued"]) == (1, 0, 0)
    assert "2 jobs failed" in done["stoppedReason"]


async def test_cancel(world):
    api, ids, headers = world
    made = (
        await api.client.post(URL, json=body(ids, concurrency=2), headers=headers["alice"])
    ).json()
    await _until(
        lambda: _batch(api, headers["alice"], made["id"]), lambda b: b["counts"]["queued"] == 2
    )
    await queue.claim_many(api.store, RUNNER, [TAG], 1)  # one running, one still queued
    one = f"{URL}/{made['id']}"
    response = await api.client.post(f"{one}/cancel", headers=headers["alice"])
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["finishedAt"] is not None
    counts = cancelled["counts"]
    assert (counts["cancelled"], counts["running"], counts["notQueued"]) == (1, 1, 2)
    running = next(j for j in cancelled["jobs"] if j["status"] == "running")
    assert (await api.store.job_row(running["id"])).error == queue.CANCEL_REQUESTED
    # Nothing more is queued; a second cancel changes nothing.
    await asyncio.sleep(0.5)
    again = (await api.client.post(f"{one}/cancel", headers=headers["alice"])).json()
    assert again["counts"] == counts and again["status"] == "cancelled"


async def test_who_reads_and_cancels_whose(world):
    api, ids, headers = world
    made = (await api.client.post(URL, json=body(ids), headers=headers["alice"])).json()
    one = f"{URL}/{made['id']}"
    # Another user without manage-operations, or with it but not seeing every target: as if
    # it did not exist.
    for who in ("bob", "narrow"):
        for verb, url in (("GET", one), ("POST", f"{one}/cancel")):
            response = await api.client.request(verb, url, headers=headers[who])
            message = f"Entity not found: Batch({made['id']})"
            assert_error(response, 404, "ResourceNotFound", message)
        assert (await api.client.get(URL, headers=headers[who])).json() == []
    listed = (await api.client.get(URL, headers=headers["alice"])).json()
    assert [b["id"] for b in listed] == [made["id"]] and "jobs" not in listed[0]
    # manage-operations and sight of every target: reads it, and may cancel it.
    assert (await api.client.get(one, headers=headers["lead"])).status_code == 200
    assert [b["id"] for b in (await api.client.get(URL, headers=headers["lead"])).json()] == [
        made["id"]
    ]
    cancelled = await api.client.post(f"{one}/cancel", headers=headers["lead"])
    assert cancelled.json()["status"] == "cancelled"
    for missing in ("0123456789abcdef01234567", "not-an-id"):
        response = await api.client.get(f"{URL}/{missing}", headers=headers["alice"])
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Batch({missing})")


async def test_missing_rights(world):
    api, ids, headers = world
    for who, missing in (("no_bulks", "run-bulks"), ("no_exec", "execute-operations")):
        response = await api.client.post(URL, json=body(ids), headers=headers[who])
        assert_error(response, 403, "Forbidden", f"Required permissions: {missing}")
    # A subtree out of sight is one that does not exist, before any permission.
    response = await api.client.post(
        URL, json=body(ids, target={"subtree": ids["hidden"]}), headers=headers["no_bulks"]
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({ids['hidden']})")
    response = await api.client.post(URL, json=body(ids))
    assert response.status_code == 401


async def test_listed_ids_out_of_sight_read_as_missing(world):
    api, ids, headers = world
    missing = "0123456789abcdef01234567"
    targets = {"objects": [ids["a"], ids["far"], missing, ids["a"]]}
    response = await api.client.post(URL, json=body(ids, target=targets), headers=headers["alice"])
    assert response.status_code == 202, response.text
    made = response.json()
    assert made["skipped"] == [
        {"entity": {"object": ids["far"]}, "reason": "not found"},
        {"entity": {"object": missing}, "reason": "not found"},
    ]
    assert made["counts"]["waiting"] + made["counts"]["queued"] == 1


async def test_class_and_tag_targets(world):
    api, ids, headers = world
    made = (
        await api.client.post(
            URL, json=body(ids, target={"class": ids["node"]}), headers=headers["alice"]
        )
    ).json()
    counts = made["counts"]
    # a, b, c, d: below and far are of the class but out of sight, and not even counted.
    assert counts["waiting"] + counts["queued"] == 4 and counts["skipped"] == 0
    for name in ("below", "far"):
        assert ids[name] not in str(made)
    admin = headers["admin"]
    tag = (await api.client.post("/node/api/tags", json={"name": "db"}, headers=admin)).json()
    for name in ("a", "far"):
        await api.client.patch(
            f"/node/api/objects/{ids[name]}", json={"tags": [tag["id"]]}, headers=admin
        )
    made = (
        await api.client.post(URL, json=body(ids, target={"tag": "db"}), headers=headers["alice"])
    ).json()
    assert made["counts"]["waiting"] + made["counts"]["queued"] == 1
    response = await api.client.post(
        URL, json=body(ids, target={"tag": "nope"}), headers=headers["alice"]
    )
    assert_error(response, 404, "ResourceNotFound", "Entity not found: Tag(nope)")


HOSTILE = [
    ([], None),
    ({"operation": 5}, "operation: must be an operation's ID"),
    ({"surprise": 1}, "surprise: not a field of a batch"),
    ({"target": {"subtree": 5}}, "target.subtree: must be an ID"),
    ({"target": {"objects": "x"}}, "target.objects: must be a non-empty list of IDs"),
    ({"target": {"objects": ["x"]}}, "target.objects: every item must be a 24-hex-digit ID"),
    (
        {"target": {"objects": ["0123456789abcdef01234567"] * 10_001}},
        "target.objects: at most 10000 IDs",
    ),
    ({"target": {"objects": ["0123456789abcdef01234567"], "class": "2"}}, None),
    ({"target": {"everything": True}}, None),
    ({"concurrency": 0}, "concurrency: must be a whole number from 1 to 100"),
    ({"concurrency": 101}, "concurrency: must be a whole number from 1 to 100"),
    ({"concurrency": True}, "concurrency: must be a whole number from 1 to 100"),
    ({"concurrency": "5"}, "concurrency: must be a whole number from 1 to 100"),
    ({"stopAfterFailures": 0}, "stopAfterFailures: must be a whole number from 1 to 10000"),
    ({"stopAfterFailures": 2**70}, None),
    ({"stopAfterFailures": 10_001}, "stopAfterFailures: must be a whole number from 1 to 10000"),
    ({"name": "a\x1b[2Jb"}, None),
    ({"name": "x" * 256}, "name: must be a non-empty text of at most 255 characters"),
    ({"args": []}, "args: must be a JSON object"),
    ({"args": {"level": "high"}}, None),
    ({"args": {}}, None),
]


@pytest.mark.parametrize(("change", "message"), HOSTILE)
async def test_hostile_bodies(world, change, message):
    api, ids, headers = world
    sent = change if isinstance(change, list) else body(ids, **change)
    response = await api.client.post(URL, json=sent, headers=headers["alice"])
    error = assert_error(response, 400, "BadRequest") if message is None else None
    if message is not None:
        assert_error(response, 400, "BadRequest", message)
    assert error is None or error["message"]
    assert (await api.client.get(URL, headers=headers["alice"])).json() == []


async def test_unknown_operation_and_one_out_of_sight(world):
    api, ids, headers = world
    missing = "0123456789abcdef01234567"
    response = await api.client.post(
        URL, json=body(ids, operation=missing), headers=headers["alice"]
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Operation({missing})")
    response = await api.client.post(
        f"/node/api/objects/{ids['far']}/operations", json=OPERATION, headers=headers["admin"]
    )
    hidden_op = response.json()["id"]
    response = await api.client.post(
        URL, json=body(ids, operation=hidden_op), headers=headers["alice"]
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Operation({hidden_op})")


async def test_open_batches_are_bounded(world, monkeypatch):
    api, ids, headers = world
    monkeypatch.setattr("opsjobs.service.batches.OPEN_PER_OWNER_MAX", 2)
    for _ in range(2):
        response = await api.client.post(URL, json=body(ids), headers=headers["alice"])
        assert response.status_code == 202
    response = await api.client.post(URL, json=body(ids), headers=headers["alice"])
    assert_error(response, 400, "BadRequest", "owner: a user may have at most 2 running batches")


async def test_making_and_cancelling_leave_audit_rows_without_the_ids(world):
    api, ids, headers = world
    targets = {"objects": [ids[n] for n in "abcd"]}
    made = (
        await api.client.post(URL, json=body(ids, target=targets), headers=headers["alice"])
    ).json()
    await api.client.post(f"{URL}/{made['id']}/cancel", headers=headers["alice"])
    await api.ctx.audit.flush()
    response = await api.client.get("/node/api/audit", headers=headers["admin"])
    found = {row["kind"]: row for row in response.json() if row["kind"].startswith("batch.")}
    assert found["batch.create"]["target_id"] == made["id"]
    assert found["batch.create"]["detail"]["target"] == ["objects"]
    assert ids["a"] not in str(found["batch.create"])  # a list of thousands is not logged
    assert found["batch.cancel"]["target_id"] == made["id"]


async def test_hostile_pages(world):
    api, ids, headers = world
    made = (await api.client.post(URL, json=body(ids), headers=headers["alice"])).json()
    one = f"{URL}/{made['id']}"
    for url, params in (
        (URL, {"limit": 0}),
        (URL, {"limit": 1001}),
        (URL, {"limit": "x"}),
        (one, {"limit": 2**70}),
        (one, {"skip": -1}),
        (one, {"skip": 10_001}),
    ):
        response = await api.client.get(url, params=params, headers=headers["alice"])
        assert response.status_code == 400, (url, params, response.text)
        assert response.json()["code"] == "BadRequest"
    page = await api.client.get(one, params={"limit": 1, "skip": 3}, headers=headers["alice"])
    assert page.status_code == 200 and len(page.json()["jobs"]) <= 1
