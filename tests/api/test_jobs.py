"""The jobs API (docs/api.md §5–§7): the job document, history lists and their filters, custom
results (with concurrent appends), and the history of deleted owners."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from helpers import EXECUTION_KEYS, JOB_KEYS, add_job, assert_error
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.jobs import insert_jobs

STATUSES = {"queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost"}


def user_id(api, login: str) -> str:
    return api.store.directory.by_login[login]


def check_job_document(document: dict) -> None:
    """Key set and types of docs/api.md §5, nothing more, nothing less."""
    assert set(document) == JOB_KEYS, set(document) ^ JOB_KEYS
    assert isinstance(document["id"], str) and len(document["id"]) == 24
    assert isinstance(document["description"], dict)
    assert document["operation_id"] is None or isinstance(document["operation_id"], str)
    assert isinstance(document["owner_id"], str)
    assert document["owner_type"] in (1, 2) and type(document["owner_type"]) is int
    assert document["user_id"] is None or isinstance(document["user_id"], str)
    assert document["process_meta"] is None or isinstance(document["process_meta"], dict)
    assert type(document["timestamp"]) is int
    assert isinstance(document["results"], list)
    for entry in document["results"]:
        assert set(entry) == {"payload", "by", "timestamp"}
        assert isinstance(entry["payload"], dict) and isinstance(entry["by"], str)
        assert type(entry["timestamp"]) is int
    execution = document["execution"]
    assert set(execution) == EXECUTION_KEYS
    assert execution["status"] in STATUSES
    for key in ("started", "finished"):
        assert execution[key] is None or type(execution[key]) is int
    assert execution["error"] is None or isinstance(execution["error"], str)
    assert type(execution["truncated"]) is bool
    assert execution["runner"] is None or isinstance(execution["runner"], str)


# -- GET /node/api/jobs/:id -----------------------------------------------------------------


async def test_job_document_matches_the_seed_page(api, backend):
    headers = await api.admin()
    object_id = await api.object("web-1")
    requester = user_id(api, "admin")
    operation_id = new_id()
    job_id = await add_job(
        api.store,
        object_id,
        timestamp=1594970336122,
        description={"stdout": "Hello, world!", "exitCode": 0},
        operation_id=operation_id,
        user_id=requester,
        started=1594970336125,
        finished=1594970336190,
        runner="host-a/4711",
    )
    response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    check_job_document(document)
    assert document == {
        "id": job_id,
        "description": {"stdout": "Hello, world!", "exitCode": 0},
        "operation_id": operation_id,
        "owner_id": object_id,
        "owner_type": 1,
        "user_id": requester,
        "process_meta": None,
        "timestamp": 1594970336122,
        "results": [],
        "execution": {
            "status": "succeeded",
            "started": 1594970336125,
            "finished": 1594970336190,
            "error": None,
            "truncated": False,
            "runner": "host-a/4711",
        },
    }


async def test_job_documents_of_triggers_links_and_queued_runs(api, backend):
    headers = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link_id = await api.link(a, b)
    trigger_job = await add_job(api.store, a, process_meta={"triggerStates": [5, 8]}, user_id=None)
    link_job = await add_job(
        api.store,
        link_id,
        EntityKind.LINK,
        description={"topic": "links/trace", "message": "start"},
        status="failed",
        error="MQTT broker 127.0.0.1:1883 unreachable",
        truncated=True,
    )
    # Tagged for a runner that does not exist, so the app's own runner leaves it queued.
    queued_job = await add_job(
        api.store,
        a,
        description={},
        status="queued",
        started=None,
        finished=None,
        runner=None,
        runner_tag="nowhere",
    )

    document = (await api.client.get(f"/node/api/jobs/{trigger_job}", headers=headers)).json()
    check_job_document(document)
    assert document["process_meta"] == {"triggerStates": [5, 8]}
    assert document["user_id"] is None

    document = (await api.client.get(f"/node/api/jobs/{link_job}", headers=headers)).json()
    check_job_document(document)
    assert document["owner_type"] == 2 and document["owner_id"] == link_id
    assert document["description"] == {"topic": "links/trace", "message": "start"}
    assert document["execution"]["status"] == "failed"
    assert document["execution"]["error"] == "MQTT broker 127.0.0.1:1883 unreachable"
    assert document["execution"]["truncated"] is True

    document = (await api.client.get(f"/node/api/jobs/{queued_job}", headers=headers)).json()
    check_job_document(document)
    assert document["description"] == {}
    assert document["execution"]["status"] == "queued"
    assert document["execution"]["started"] is None
    assert document["execution"]["finished"] is None


async def test_unknown_and_malformed_job_ids_are_404(api):
    headers = await api.admin()
    for job_id in (new_id(), "1", "zzz", "5f1150e0786952333e04889", "5F1150E0786952333E048898"):
        response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")


# -- POST /node/api/jobs --------------------------------------------------------------------


@pytest.fixture
async def history(api):
    """An admin, two objects and a link with jobs at known times."""
    headers = await api.admin()
    admin_id = user_id(api, "admin")
    await api.user("other", "pw", ["modify-objects"], ["1"])
    other_id = user_id(api, "other")
    a, b = await api.object("a"), await api.object("b")
    link_id = await api.link(a, b)
    op1, op2 = new_id(), new_id()
    jobs = {
        "a1": await add_job(api.store, a, timestamp=1000, operation_id=op1, operation_name="uptime", user_id=admin_id),
        "a2": await add_job(api.store, a, timestamp=2000, operation_id=op2, operation_name="restart", user_id=other_id, status="failed"),
        "a3": await add_job(api.store, a, timestamp=3000, operation_id=op1, operation_name="uptime", user_id=admin_id),
        "b1": await add_job(api.store, b, timestamp=1500, operation_id=op1, operation_name="uptime", user_id=None),
        "l1": await add_job(api.store, link_id, EntityKind.LINK, timestamp=2500, operation_id=op2, operation_name="trace"),
    }  # fmt: skip
    return {
        "headers": headers,
        "a": a,
        "b": b,
        "link": link_id,
        "jobs": jobs,
        "op1": op1,
        "op2": op2,
        "admin_id": admin_id,
        "other_id": other_id,
    }


def names(history, response) -> list[str]:
    assert response.status_code == 200, response.text
    by_id = {v: k for k, v in history["jobs"].items()}
    return [by_id[j["id"]] for j in response.json()]


async def test_jobs_of_objects_oldest_first_with_operation_name(api, history, backend):
    h = history
    response = await api.client.post(
        "/node/api/jobs", json={"objects": [h["a"], h["b"]]}, headers=h["headers"]
    )
    assert names(h, response) == ["a1", "b1", "a2", "a3"]
    for document in response.json():
        operation = document.pop("operation")
        assert set(operation) == {"name"}
        check_job_document(document)
    assert [d["operation"]["name"] for d in response.json()] == [
        "uptime",
        "uptime",
        "restart",
        "uptime",
    ]


async def test_jobs_of_links(api, history, backend):
    h = history
    response = await api.client.post(
        "/node/api/jobs", json={"links": [h["link"]]}, headers=h["headers"]
    )
    assert names(h, response) == ["l1"]
    assert response.json()[0]["operation"] == {"name": "trace"}
    assert response.json()[0]["owner_type"] == 2


async def test_jobs_time_window_is_inclusive(api, history, backend):
    h = history

    async def window(**bounds) -> list[str]:
        body = {"objects": [h["a"], h["b"]], **bounds}
        return names(h, await api.client.post("/node/api/jobs", json=body, headers=h["headers"]))

    assert await window(**{"from": 1500, "to": 2000}) == ["b1", "a2"]
    assert await window(**{"from": 2000, "to": 2000}) == ["a2"]
    assert await window(**{"from": 2001}) == ["a3"]
    assert await window(to=1000) == ["a1"]
    assert await window(**{"from": 3001}) == []


async def test_jobs_paging_order_and_filters(api, history, backend):
    h = history

    async def listed(**extra) -> list[str]:
        body = {"objects": [h["a"], h["b"]], **extra}
        return names(h, await api.client.post("/node/api/jobs", json=body, headers=h["headers"]))

    assert await listed(order="desc") == ["a3", "a2", "b1", "a1"]
    assert await listed(limit=2) == ["a1", "b1"]
    assert await listed(limit=2, skip=1) == ["b1", "a2"]
    assert await listed(skip=3) == ["a3"]
    assert await listed(limit=0) == []
    assert await listed(order="desc", limit=1) == ["a3"]
    assert await listed(status="failed") == ["a2"]
    assert await listed(operation_id=h["op1"]) == ["a1", "b1", "a3"]
    assert await listed(user_id=h["other_id"]) == ["a2"]
    assert await listed(user_id=h["admin_id"], operation_id=h["op1"], order="desc") == [
        "a3",
        "a1",
    ]


async def test_jobs_repeated_ids_are_listed_once(api, history):
    h = history
    body = {"objects": [h["b"], h["b"], h["b"]]}
    assert names(h, await api.client.post("/node/api/jobs", json=body, headers=h["headers"])) == [
        "b1"
    ]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"objects": ["1"], "links": ["1"]}, "objects or links"),
        ({}, "objects or links"),
        ({"objects": None}, "objects or links"),
        ({"objects": []}, "objects"),
        ({"links": []}, "links"),
        ({"objects": "1"}, "objects"),
        ({"objects": [1]}, "objects.0"),
        ({"objects": [""]}, "objects.0"),
        ({"objects": ["1"], "from": "1000"}, "from"),
        ({"objects": ["1"], "to": 1.5}, "to"),
        ({"objects": ["1"], "from": -1}, "from"),
        ({"objects": ["1"], "limit": "2"}, "limit"),
        ({"objects": ["1"], "limit": -1}, "limit"),
        ({"objects": ["1"], "skip": -1}, "skip"),
        ({"objects": ["1"], "order": "up"}, "order"),
        ({"objects": ["1"], "status": 3}, "status"),
        ({"objects": ["1"], "user_id": ["x"]}, "user_id"),
        ([{"objects": ["1"]}], "body"),
        ("objects", "body"),
    ],
)
async def test_jobs_bad_bodies_are_400_naming_the_field(api, body, named):
    headers = await api.admin()
    response = await api.client.post("/node/api/jobs", json=body, headers=headers)
    error = assert_error(response, 400, "BadRequest")
    assert error["message"].startswith(named + ":") or error["message"].startswith(named), error


# -- GET /node/api/objects/:id/jobs and /links/:id/jobs -------------------------------------


async def test_object_history_with_query_filters(api, history, backend):
    h = history

    async def listed(query: str = "") -> list[str]:
        url = f"/node/api/objects/{h['a']}/jobs{query}"
        return names(h, await api.client.get(url, headers=h["headers"]))

    assert await listed() == ["a1", "a2", "a3"]
    assert await listed("?order=desc") == ["a3", "a2", "a1"]
    assert await listed("?from=2000&to=3000") == ["a2", "a3"]
    assert await listed("?from=1000&to=1000") == ["a1"]
    assert await listed("?limit=1&skip=1") == ["a2"]
    assert await listed("?status=succeeded") == ["a1", "a3"]
    assert await listed(f"?operation_id={h['op2']}") == ["a2"]
    assert await listed(f"?user_id={h['admin_id']}&order=desc&limit=1") == ["a3"]
    response = await api.client.get(f"/node/api/objects/{h['a']}/jobs", headers=h["headers"])
    assert [d["operation"] for d in response.json()] == [
        {"name": "uptime"},
        {"name": "restart"},
        {"name": "uptime"},
    ]


async def test_link_history_with_query_filters(api, history, backend):
    h = history
    url = f"/node/api/links/{h['link']}/jobs"
    assert names(h, await api.client.get(url, headers=h["headers"])) == ["l1"]
    assert names(h, await api.client.get(url + "?from=2501", headers=h["headers"])) == []
    assert names(h, await api.client.get(url + "?status=succeeded", headers=h["headers"])) == ["l1"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("limit=x", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("skip=-1", "skip"),
        ("skip=abc", "skip"),
        ("order=up", "order"),
        ("from=abc", "from"),
        ("from=-5", "from"),
        ("to=yesterday", "to"),
    ],
)
async def test_history_bad_query_values_are_400_naming_the_parameter(api, query, named):
    headers = await api.admin()
    a = await api.object("a")
    link_id = await api.link(a, "1")
    for url in (f"/node/api/objects/{a}/jobs?{query}", f"/node/api/links/{link_id}/jobs?{query}"):
        response = await api.client.get(url, headers=headers)
        error = assert_error(response, 400, "BadRequest")
        assert error["message"].startswith(named + ":"), error


async def test_long_history_streams_as_one_valid_array(api, backend):
    headers = await api.admin()
    a = await api.object("busy")
    rows = []
    for n in range(1234):  # more than two batches of the stream
        rows.append(
            {
                "id": new_id(),
                "owner_id": a,
                "owner_type": EntityKind.OBJECT,
                "timestamp": 10_000 + n,
                "operation_name": f"op {n}",
                "description": orjson.dumps({"stdout": f"line {n}", "exitCode": 0}).decode(),
                "status": "succeeded",
            }
        )
    await insert_jobs(api.store, rows)
    response = await api.client.get(f"/node/api/objects/{a}/jobs", headers=headers)
    assert response.status_code == 200
    listed = response.json()
    assert [d["id"] for d in listed] == [r["id"] for r in rows]
    assert listed[1233]["operation"] == {"name": "op 1233"}
    response = await api.client.post(
        "/node/api/jobs", json={"objects": [a], "order": "desc"}, headers=headers
    )
    assert [d["timestamp"] for d in response.json()] == list(range(11_233, 9_999, -1))


async def test_empty_history_is_an_empty_array(api, backend):
    headers = await api.admin()
    a = await api.object("quiet")
    response = await api.client.get(f"/node/api/objects/{a}/jobs", headers=headers)
    assert response.status_code == 200 and response.json() == []
    response = await api.client.post("/node/api/jobs", json={"objects": [a]}, headers=headers)
    assert response.status_code == 200 and response.text == "[]"


# -- PATCH /node/api/jobs/:id/results -------------------------------------------------------


async def test_results_are_appended_in_order(api, backend):
    headers = await api.admin()
    admin_id = user_id(api, "admin")
    a = await api.object("a")
    job_id = await add_job(api.store, a)
    before = now_ms()
    first = {"checked": True, "note": "looks fine", "nested": {"n": [1, 2, 3]}}
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", json=first, headers=headers
    )
    assert response.status_code == 200
    assert response.content == b""
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", json={"second": "ü ☃"}, headers=headers
    )
    assert response.status_code == 200
    after = now_ms()
    document = (await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)).json()
    check_job_document(document)
    results = document["results"]
    assert [r["payload"] for r in results] == [first, {"second": "ü ☃"}]
    assert all(r["by"] == admin_id for r in results)
    assert before <= results[0]["timestamp"] <= results[1]["timestamp"] <= after
    history = (await api.client.get(f"/node/api/objects/{a}/jobs", headers=headers)).json()
    assert history[0]["results"] == results


async def test_fifty_concurrent_appends_are_all_kept(api, backend):
    headers = await api.admin()
    a = await api.object("a")
    job_id = await add_job(api.store, a)
    # One request first, so the credential is verified once and the rest hit the cache.
    await api.client.get("/node/api/users/current", headers=headers)

    async def append(n: int):
        return await api.client.patch(
            f"/node/api/jobs/{job_id}/results", json={"n": n}, headers=headers
        )

    responses = await asyncio.gather(*(append(n) for n in range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    document = (await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)).json()
    assert sorted(r["payload"]["n"] for r in document["results"]) == list(range(50))


@pytest.mark.parametrize(
    "body", [[1, 2], "text", 5, None, True], ids=["array", "string", "number", "null", "bool"]
)
async def test_results_payload_must_be_an_object(api, body):
    headers = await api.admin()
    job_id = await add_job(api.store, await api.object("a"))
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", content=orjson.dumps(body), headers=headers
    )
    assert_error(response, 400, "BadRequest", contains=("body",))
    document = (await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)).json()
    assert document["results"] == []


async def test_results_rights_follow_the_owner_kind(api, backend):
    await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link_id = await api.link(a, b)
    object_job = await add_job(api.store, a)
    link_job = await add_job(api.store, link_id, EntityKind.LINK)
    users = {
        "modify-objects": await api.user("mo", "pw", ["modify-objects"], ["1"]),
        "manage-objects": await api.user("gO", "pw", ["manage-objects"], ["1"]),
        "modify-links": await api.user("ml", "pw", ["modify-links"], ["1"]),
        "manage-links": await api.user("gL", "pw", ["manage-links"], ["1"]),
        "execute-operations": await api.user("ex", "pw", ["execute-operations"], ["1"]),
    }
    can = {
        "modify-objects": {object_job},
        "manage-objects": {object_job},
        "modify-links": {link_job},
        "manage-links": {link_job},
        "execute-operations": set(),
    }
    for permission, headers in users.items():
        for job_id in (object_job, link_job):
            response = await api.client.patch(
                f"/node/api/jobs/{job_id}/results", json={"by": permission}, headers=headers
            )
            if job_id in can[permission]:
                assert response.status_code == 200, (permission, response.text)
            elif job_id == object_job:
                assert_error(
                    response,
                    403,
                    "Forbidden",
                    "Required permissions: modify-objects or manage-objects",
                )
            else:
                assert_error(
                    response, 403, "Forbidden", "Required permissions: modify-links or manage-links"
                )


async def test_results_on_hidden_job_is_404_even_with_permissions(api):
    await api.admin()
    a = await api.object("a")
    hidden = await api.object("hidden")
    headers = await api.user("mo", "pw", ["manage-objects"], [a])
    job_id = await add_job(api.store, hidden)
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results", json={"x": 1}, headers=headers
    )
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")
    for bad in ("zzz", new_id()):
        response = await api.client.patch(
            f"/node/api/jobs/{bad}/results", json={"x": 1}, headers=headers
        )
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({bad})")


# -- deleted owners -------------------------------------------------------------------------


async def test_deleted_objects_history_is_kept_for_managers_only(api, backend):
    admin = await api.admin()
    a = await api.object("doomed")
    job_id = await add_job(api.store, a)
    # Sees everything while it exists; no manage-objects.
    modifier = await api.user("mo", "pw", ["modify-objects", "delete-objects"], ["1"])
    # Manages objects, but sees no object at all.
    manager = await api.user("mgr", "pw", ["manage-objects"], [])

    assert (await api.client.get(f"/node/api/jobs/{job_id}", headers=modifier)).status_code == 200
    assert (await api.client.get(f"/node/api/jobs/{job_id}", headers=manager)).status_code == 404

    response = await api.client.delete(f"/node/api/objects/{a}", headers=modifier)
    assert response.status_code == 200

    for headers in (admin, manager):
        response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
        assert response.status_code == 200 and response.json()["owner_id"] == a
        response = await api.client.get(f"/node/api/objects/{a}/jobs", headers=headers)
        assert [d["id"] for d in response.json()] == [job_id]
        response = await api.client.post("/node/api/jobs", json={"objects": [a]}, headers=headers)
        assert [d["id"] for d in response.json()] == [job_id]
        response = await api.client.patch(
            f"/node/api/jobs/{job_id}/results", json={"post": "mortem"}, headers=headers
        )
        assert response.status_code == 200

    response = await api.client.get(f"/node/api/jobs/{job_id}", headers=modifier)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")
    response = await api.client.get(f"/node/api/objects/{a}/jobs", headers=modifier)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({a})")
    response = await api.client.post("/node/api/jobs", json={"objects": [a]}, headers=modifier)
    assert response.json() == []
    # The object itself is gone for everyone.
    response = await api.client.get(f"/node/api/objects/{a}", headers=admin)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Object({a})")


async def test_deleted_links_history_needs_manage_links(api, backend):
    admin = await api.admin()
    a, b = await api.object("a"), await api.object("b")
    link_id = await api.link(a, b)
    job_id = await add_job(api.store, link_id, EntityKind.LINK)
    objects_manager = await api.user("om", "pw", ["manage-objects"], ["1"])
    links_manager = await api.user("lm", "pw", ["manage-links"], [])
    assert (await api.client.delete(f"/node/api/links/{link_id}", headers=admin)).status_code == 200

    response = await api.client.get(f"/node/api/jobs/{job_id}", headers=links_manager)
    assert response.status_code == 200
    response = await api.client.get(f"/node/api/links/{link_id}/jobs", headers=links_manager)
    assert [d["id"] for d in response.json()] == [job_id]
    response = await api.client.get(f"/node/api/jobs/{job_id}", headers=objects_manager)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")
    response = await api.client.get(f"/node/api/links/{link_id}/jobs", headers=objects_manager)
    assert_error(response, 404, "ResourceNotFound", f"Entity not found: Link({link_id})")


async def test_ids_that_name_nothing_are_404_even_for_managers(api, backend):
    """An ID with no entity and no history names nothing (docs/api.md §2)."""
    admin = await api.admin()
    for owner in ("objects", "links"):
        kind = owner[:-1].capitalize()
        for bad in (new_id(), "zzz", "1x"):
            response = await api.client.get(f"/node/api/{owner}/{bad}/jobs", headers=admin)
            assert_error(response, 404, "ResourceNotFound", f"Entity not found: {kind}({bad})")


async def test_a_result_with_an_integer_too_wide_for_json_storage_is_a_bad_request(api):
    from opsjobs.domain.ids import new_id
    from opsjobs.domain.kinds import EntityKind
    from opsjobs.store.jobs import insert_jobs

    admin = await api.admin()
    obj = await api.object("web")
    job_id = new_id()
    await insert_jobs(
        api.store,
        [
            {
                "id": job_id,
                "owner_id": obj,
                "owner_type": EntityKind.OBJECT,
                "timestamp": 1,
                "status": "succeeded",
                "runner_tag": "nobody",
            }
        ],
    )
    response = await api.client.patch(
        f"/node/api/jobs/{job_id}/results",
        content=b'{"n": 123456789012345678901234567890}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    document = (await api.client.get(f"/node/api/jobs/{job_id}", headers=admin)).json()
    assert document["results"] == []
