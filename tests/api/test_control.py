"""Job control routes over real HTTP (a uvicorn server in the test's loop, so that streamed
answers arrive as they are sent): /output, /stream (SSE) and /cancel, with their rights."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

from conftest import Api
from helpers import NOT_LOGGED_IN, assert_error, free_port
from helpers.execution import queue, runner_settings, wait_status
from opsjobs.api.context import Context
from opsjobs.api.routes.control import complete_utf8
from opsjobs.compose import server_app
from opsjobs.domain.ids import new_id
from opsjobs.domain.spec import ExecSpec, ScriptSpec


@contextlib.asynccontextmanager
async def served(database_url: str, **overrides) -> AsyncIterator[Api]:
    ctx = Context.create(runner_settings(database_url, **overrides))
    port = free_port()
    config = uvicorn.Config(
        server_app(context=ctx), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the server did not start"
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Api(client, ctx)
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def api(backend, database_url) -> AsyncIterator[Api]:
    async with served(database_url) as served_api:
        yield served_api


@pytest.fixture
async def setup(api):
    """An admin, an object, and a gate file the test opens to let a waiting script go on."""
    return {"admin": await api.admin(), "object": await api.object("web-1")}


def gated(gate: Path, before: str = "one", after: str = "two") -> ScriptSpec:
    """A script that prints ``before``, waits for ``gate`` to exist, then prints ``after``."""
    text = f"echo {before}; while [ ! -e '{gate}' ]; do sleep 0.02; done; echo {after}"
    return ScriptSpec(text=text, timeout=30)


async def output(api: Api, headers, job_id: str, **params) -> dict:
    response = await api.client.get(
        f"/node/api/jobs/{job_id}/output", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def output_until(api: Api, headers, job_id: str, data: str, **params) -> dict:
    deadline = time.monotonic() + 10
    while True:
        answer = await output(api, headers, job_id, **params)
        if answer["data"] == data:
            return answer
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.02)


def parse_events(text: str) -> list[tuple[str, str | None, object]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
        )
        if fields:
            events.append((fields["event"], fields.get("id"), orjson.loads(fields["data"])))
    return events


# -- /output --------------------------------------------------------------------------------


async def test_output_from_offsets_while_running_and_after(api, setup, tmp_path):
    admin, gate = setup["admin"], tmp_path / "gate"
    job_id = await queue(api.store, gated(gate), owner_id=setup["object"])
    first = await output_until(api, admin, job_id, "one\n")
    assert first == {
        "stream": "stdout",
        "offset": 0,
        "next": 4,
        "data": "one\n",
        "finished": False,
        "status": "running",
    }
    assert (await output(api, admin, job_id, offset=4))["data"] == ""
    assert (await output(api, admin, job_id, offset=0, limit=2))["next"] == 2
    gate.touch()
    await wait_status(api.store, job_id)
    rest = await output(api, admin, job_id, offset=4)
    assert (rest["data"], rest["next"], rest["finished"], rest["status"]) == (
        "two\n",
        8,
        True,
        "succeeded",
    )
    assert (await output(api, admin, job_id, offset=100))["data"] == ""
    assert (await output(api, admin, job_id, offset=100))["next"] == 100
    stderr = await output(api, admin, job_id, stream="stderr")
    assert (stderr["data"], stderr["next"], stderr["finished"]) == ("", 0, True)


async def test_output_never_splits_a_character(api, setup):
    admin = setup["admin"]
    job_id = await queue(api.store, ExecSpec(["printf", "aé"], 5), owner_id=setup["object"])
    await wait_status(api.store, job_id)
    cut = await output(api, admin, job_id, limit=2)
    assert (cut["data"], cut["next"]) == ("a", 1)
    assert (await output(api, admin, job_id, offset=1))["data"] == "é"


def test_complete_utf8_trims_only_an_unfinished_sequence():
    assert complete_utf8(b"") == 0
    assert complete_utf8(b"abc") == 3
    assert complete_utf8("aé".encode()) == 3
    assert complete_utf8("aé".encode()[:2]) == 1
    assert complete_utf8("a✓".encode()[:3]) == 1
    assert complete_utf8("a😀".encode()[:4]) == 1
    assert complete_utf8("a😀".encode()) == 5
    assert complete_utf8(b"\xff\xfe") == 2


# -- /stream --------------------------------------------------------------------------------


async def test_stream_sends_backlog_then_live_output_then_the_finished_job(api, setup, tmp_path):
    admin, gate = setup["admin"], tmp_path / "gate"
    job_id = await queue(api.store, gated(gate), owner_id=setup["object"])
    await output_until(api, admin, job_id, "one\n")  # the backlog exists before we connect
    received = ""
    async with api.client.stream("GET", f"/node/api/jobs/{job_id}/stream", headers=admin) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        async for text in r.aiter_text():
            received += text
            if "one" in received and not gate.exists():
                assert "two" not in received
                gate.touch()  # only now may the live part be produced
    events = parse_events(received)
    assert [name for name, _, _ in events] == ["output", "output", "end"]
    assert events[0] == ("output", "4:0", {"stream": "stdout", "offset": 0, "data": "one\n"})
    assert events[1] == ("output", "8:0", {"stream": "stdout", "offset": 4, "data": "two\n"})
    final = events[2][2]
    assert final["id"] == job_id
    assert final["execution"]["status"] == "succeeded"
    assert final["description"] == {"stdout": "one\ntwo\n", "exitCode": 0, "stderr": ""}


@pytest.mark.parametrize(
    "change",
    [
        {"objectPermissions": {"include": [], "exclude": []}},
        {"status": 3},  # blocked
        {"password": "another-password-9d2e"},
    ],
    ids=["revoked", "blocked", "new-password"],
)
async def test_a_stream_ends_when_its_caller_may_no_longer_see_the_job(
    api, setup, tmp_path, change
):
    """The stream checked the caller once, when it opened: output kept flowing to a user
    whose access was revoked, who was blocked, or whose sessions a new password ended."""
    admin, gate = setup["admin"], tmp_path / "gate"
    viewer = await api.user("viewer", include=[setup["object"]])
    viewer_id = api.store.directory.by_login["viewer"]
    job_id = await queue(api.store, gated(gate), owner_id=setup["object"])
    await output_until(api, admin, job_id, "one\n")
    received = ""
    async with api.client.stream("GET", f"/node/api/jobs/{job_id}/stream", headers=viewer) as r:
        assert r.status_code == 200
        async for text in r.aiter_text():
            received += text
            if "one" in received and not gate.exists():
                changed = await api.client.patch(
                    f"/node/api/users/{viewer_id}", json=change, headers=admin
                )
                assert changed.status_code == 200, changed.text
                gate.touch()
    assert [name for name, _, _ in parse_events(received)] == ["output"]
    assert "two" not in received
    await wait_status(api.store, job_id)
    assert "two" in (await output(api, admin, job_id))["data"]


async def test_stream_of_a_finished_job_resumes_from_last_event_id(api, setup):
    admin = setup["admin"]
    spec = ScriptSpec("echo one; echo oops >&2; echo two", 5)
    job_id = await queue(api.store, spec, owner_id=setup["object"])
    await wait_status(api.store, job_id)
    whole = await api.client.get(f"/node/api/jobs/{job_id}/stream", headers=admin)
    assert [(n, d) for n, _, d in parse_events(whole.text)[:2]] == [
        ("output", {"stream": "stdout", "offset": 0, "data": "one\ntwo\n"}),
        ("output", {"stream": "stderr", "offset": 0, "data": "oops\n"}),
    ]
    resumed = await api.client.get(
        f"/node/api/jobs/{job_id}/stream", headers={**admin, "Last-Event-ID": "4:5"}
    )
    events = parse_events(resumed.text)
    assert [(n, d) for n, _, d in events[:-1]] == [
        ("output", {"stream": "stdout", "offset": 4, "data": "two\n"})
    ]
    assert events[-1][0] == "end"


# -- /cancel --------------------------------------------------------------------------------


async def test_cancel_a_queued_job_at_once(api, setup):
    admin = setup["admin"]
    # Tagged for a runner that does not exist: it stays queued.
    job_id = await queue(
        api.store, ExecSpec(["true"], 5), owner_id=setup["object"], runner_tag="nowhere"
    )
    response = await api.client.post(f"/node/api/jobs/{job_id}/cancel", headers=admin)
    assert response.status_code == 200, response.text
    execution = response.json()["execution"]
    assert execution["status"] == "cancelled"
    assert execution["finished"] is not None and execution["runner"] is None


async def test_cancel_a_running_job(api, setup, tmp_path):
    admin = setup["admin"]
    job_id = await queue(api.store, gated(tmp_path / "never"), owner_id=setup["object"])
    await output_until(api, admin, job_id, "one\n")
    response = await api.client.post(f"/node/api/jobs/{job_id}/cancel", headers=admin)
    assert response.status_code == 202, response.text
    assert response.json()["execution"]["status"] == "running"
    document = await wait_status(api.store, job_id, timeout=5)
    assert document["execution"]["status"] == "cancelled"
    assert document["description"]["stdout"] == "one\n"
    again = await api.client.post(f"/node/api/jobs/{job_id}/cancel", headers=admin)
    assert_error(again, 409, "Conflict", contains=("already finished", "cancelled"))


# -- rights and malformed requests ----------------------------------------------------------


async def test_rights_on_the_control_routes(api, setup):
    job_id = await queue(api.store, ExecSpec(["true"], 5), owner_id=setup["object"])
    await wait_status(api.store, job_id)
    other = await api.object("db-1")
    outsider = await api.user("outsider", permissions=["execute-operations"], include=[other])
    viewer = await api.user("viewer", include=[setup["object"]])
    operator = await api.user("operator", permissions=["execute-operations"], include=["1"])
    routes = [
        ("GET", f"/node/api/jobs/{job_id}/output"),
        ("GET", f"/node/api/jobs/{job_id}/stream"),
        ("POST", f"/node/api/jobs/{job_id}/cancel"),
    ]
    for method, path in routes:
        anonymous = await api.client.request(method, path)
        assert_error(anonymous, 401, "Unauthorized", NOT_LOGGED_IN)
        hidden = await api.client.request(method, path, headers=outsider)
        assert_error(hidden, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")
    for _, path in routes[:2]:
        assert (await api.client.get(path, headers=viewer)).status_code == 200
    forbidden = await api.client.post(routes[2][1], headers=viewer)
    assert_error(forbidden, 403, "Forbidden", "Required permissions: execute-operations")
    finished = await api.client.post(routes[2][1], headers=operator)
    assert_error(finished, 409, "Conflict")


@pytest.mark.parametrize(
    "query",
    ["stream=stdin", "offset=-1", "offset=x", "limit=0", "limit=999999999", "stream="],
)
async def test_malformed_output_requests_are_400(api, setup, query):
    job_id = await queue(api.store, ExecSpec(["true"], 5), owner_id=setup["object"])
    response = await api.client.get(
        f"/node/api/jobs/{job_id}/output?{query}", headers=setup["admin"]
    )
    body = assert_error(response, 400, "BadRequest")
    assert query.split("=")[0] in body["message"]


@pytest.mark.parametrize("job_id", ["abc", "5f1150e0786952333e04889", new_id()])
async def test_unknown_or_malformed_job_ids_are_404(api, setup, job_id):
    for method, suffix in (("GET", "output"), ("GET", "stream"), ("POST", "cancel")):
        response = await api.client.request(
            method, f"/node/api/jobs/{job_id}/{suffix}", headers=setup["admin"]
        )
        assert_error(response, 404, "ResourceNotFound", f"Entity not found: Job({job_id})")
