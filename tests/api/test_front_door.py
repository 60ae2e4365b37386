"""api/front_door.py: GET /node/api/jobs/:id answered ahead of the middleware stack, with
the very answers (status, headers, body) the whole app gives, and everything the skipped
layers would refuse sent through the whole app."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
import sqlalchemy.exc

from conftest import basic
from helpers import add_job, app_client
from opsjobs.domain.ids import is_object_id, new_id

PASSWORD = "door-password-7c2e"


@contextlib.asynccontextmanager
async def both_apps(database_url: str, **overrides):
    """The same database behind an app with the front door and one without."""
    async with (
        app_client(database_url, front_door=True, raise_app_exceptions=False, **overrides) as front,
        app_client(database_url, front_door=False, raise_app_exceptions=False, **overrides) as full,
    ):
        assert front.app.door is not None and full.app.door is None
        yield front, full


def _answer(response) -> tuple:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")
    return response.status_code, headers, response.content


async def _world(front):
    await front.user("reader", PASSWORD, ["manage-objects"], include=["1"])
    await front.user("nobody", PASSWORD, [], include=[])
    owner = await front.object("web-1")
    job = await add_job(front.store, owner, description={"stdout": "ok", "exitCode": 0})
    await front.ctx.store.catch_up()
    return job


REQUESTS = [
    # (label, path, headers, content)
    ("visible", "/node/api/jobs/{job}", "reader", None),
    ("out of sight", "/node/api/jobs/{job}", "nobody", None),
    ("no such job", "/node/api/jobs/" + "0" * 24, "reader", None),
    ("not an ID", "/node/api/jobs/not-an-id", "reader", None),
    ("an ID too long", "/node/api/jobs/" + "a" * 5000, "reader", None),
    ("no credentials", "/node/api/jobs/{job}", None, None),
    ("wrong password", "/node/api/jobs/{job}", "wrong", None),
    ("a query string", "/node/api/jobs/{job}?fields=id&x=%ff", "reader", None),
    ("NUL in the query", "/node/api/jobs/{job}?x=%00", "reader", None),
    ("NUL in the path", "/node/api/jobs/%00", "reader", None),
    ("not UTF-8", "/node/api/jobs/%ED%A0%80", "reader", None),
    ("trailing slash", "/node/api/jobs/{job}/", "reader", None),
    ("a body", "/node/api/jobs/{job}", "reader", b'{"x": 1}'),
    ("a body too large", "/node/api/jobs/{job}", "reader", b"x" * (2 * 1024 * 1024)),
]


def _headers(who: str | None) -> dict[str, str]:
    if who is None:
        return {}
    if who == "wrong":
        return basic("reader", "not-the-password")
    return basic(who, PASSWORD)


@pytest.mark.parametrize(
    ("label", "path", "who", "content"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
async def test_the_same_answer_through_either_door(
    backend, database_url, label, path, who, content
):
    async with both_apps(database_url) as (front, full):
        job = await _world(front)
        await full.ctx.store.catch_up()
        url = path.format(job=job)
        kwargs = {"headers": _headers(who)}
        if content is not None:
            kwargs["content"] = content
        answers = [_answer(await app.client.request("GET", url, **kwargs)) for app in (front, full)]
    assert answers[0] == answers[1], label


async def test_head_and_other_methods_answer_as_the_whole_app(database_url):
    async with both_apps(database_url) as (front, full):
        job = await _world(front)
        for method in ("HEAD", "POST", "PUT", "DELETE", "OPTIONS"):
            answers = [
                _answer(await app.client.request(method, f"/node/api/jobs/{job}"))
                for app in (front, full)
            ]
            assert answers[0] == answers[1], method


async def test_the_request_id_is_taken_or_made_as_the_whole_app_does(database_url):
    async with both_apps(database_url) as (front, full):
        job = await _world(front)
        headers = {**basic("reader", PASSWORD), "x-request-id": "client-chosen-id-1"}
        for app in (front, full):
            response = await app.client.get(f"/node/api/jobs/{job}", headers=headers)
            assert response.headers["x-request-id"] == "client-chosen-id-1"
            hostile = {**headers, "x-request-id": "bad\x7fid with spaces" + "x" * 500}
            made = (await app.client.get(f"/node/api/jobs/{job}", headers=hostile)).headers
            assert (
                made["x-request-id"] != hostile["x-request-id"] and len(made["x-request-id"]) < 100
            )


def _scope(path: str, method: str = "GET", headers=(), root_path: str = "") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "query_string": b"",
        "headers": list(headers),
    }


async def test_the_door_takes_only_what_it_serves_whole(database_url):
    async with app_client(database_url) as api:
        door = api.app.door
        job = new_id()
        assert door.match(_scope(f"/node/api/jobs/{job}")) is not None
        assert door.match(_scope(f"/node/api/jobs/{job}", headers=[(b"content-length", b"0")]))
        refused = [
            _scope(f"/node/api/jobs/{job}", method="HEAD"),
            _scope(f"/node/api/jobs/{job}", method="POST"),
            _scope(f"/node/api/jobs/{job}", headers=[(b"content-length", b"3")]),
            _scope(f"/node/api/jobs/{job}", headers=[(b"transfer-encoding", b"chunked")]),
            _scope("/node/api/jobs/\0"),
            _scope(f"/node/api/jobs/{job}/"),
            _scope(f"/node/api/jobs/{job}/output"),
            _scope(f"/node/api/jobs/{job}", root_path="/prefix"),
            _scope("/node/api/jobs/"),
            _scope("/node/api/ping"),
        ]
        for scope in refused:
            assert door.match(scope) is None, scope


async def test_a_failure_below_is_answered_as_the_whole_app_answers_it(database_url):
    """A database out of reach is a 503 with Retry-After; a bug a 500 that says nothing, and
    the exception still reaches the server (which logs it), through either door."""
    async with both_apps(database_url) as (front, full):
        job = await _world(front)
        url = f"/node/api/jobs/{job}"
        for failure in (
            sqlalchemy.exc.OperationalError("SELECT", {}, Exception("unable to open database")),
            RuntimeError("a bug with a secret s3cr3t in its message"),
        ):
            answers = []
            for app in (front, full):

                async def broken(*_args, error=failure, **_kwargs):
                    raise error

                app.store.job_row_at = broken
                response = await app.client.get(url, headers=_headers("reader"))
                answers.append((*_answer(response), "x-request-id" in response.headers))
            assert answers[0] == answers[1], failure
            assert answers[0][0] in (500, 503)
            assert b"s3cr3t" not in answers[0][2]


async def test_reads_at_the_door_count_for_the_changes_turns(database_url):
    """Changing requests on SQLite are paced while reads come in (api/admission.py): a read
    answered at the door is one of those reads."""
    async with app_client(database_url) as api:
        turns = api.ctx.write_turns
        assert api.app.door.turns is turns and turns.limited
        job = await _world(api)
        before = turns._read_at
        response = await api.client.get(f"/node/api/jobs/{job}", headers=_headers("reader"))
        assert response.status_code == 200
        assert turns._read_at > before


# -- the execute routes -----------------------------------------------------------------------

RID = "door-comparison-rid-1"
KEY = "door-key-1"


async def _execute_world(front, full) -> dict[str, str]:
    """An object and a link with an operation each, a job made with ``KEY`` by the first, and
    callers: one who may run them, one who sees them without the right, one who sees nothing."""
    admin = await front.admin()
    host, other = await front.object("web-1"), await front.object("web-2")
    link = await front.link(host, other)
    operation = {"name": "noop", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    ids = {"obj": host, "link": link}
    for kind, owner in (("objects", host), ("links", link)):
        added = await front.client.post(
            f"/node/api/{kind}/{owner}/operations", json=operation, headers=admin
        )
        assert added.status_code == 200, added.text
        ids[f"{kind}_op"] = added.json()["id"]
    await front.user("runner", PASSWORD, ["execute-operations"], include=[host, link])
    await front.user("viewer", PASSWORD, ["manage-objects"], include=[host, link])
    await front.user("nobody", PASSWORD, ["execute-operations"], include=[])
    first = await front.client.post(
        f"/node/api/objects/{host}/operations/{ids['objects_op']}/execute",
        headers={**basic("runner", PASSWORD), "idempotency-key": KEY},
    )
    assert first.status_code == 200, first.text
    ids["first"] = first.json()
    await front.ctx.store.catch_up()
    await full.ctx.store.catch_up()
    session = await front.client.post(
        "/node/api/users/session", json={"login": "runner", "password": PASSWORD}
    )
    ids["sid"], ids["csrf"] = session.cookies["sid"], session.cookies["csrf"]
    front.client.cookies.clear()
    for app in (front, full):  # each app records a caller's first log-in: done here
        for who in ("runner", "viewer", "nobody", "session"):
            headers = _caller(who, ids)
            await app.client.get(f"/node/api/jobs/{ids['first']}", headers=headers)
    return ids


def _caller(who: str | None, ids: dict[str, str]) -> dict[str, str]:
    """Basic credentials, or the session's cookie (with its CSRF token: "session+csrf")."""
    if who is None or not who.startswith("session"):
        return _headers(who)
    cookie = {"cookie": f"sid={ids['sid']}"}
    return {**cookie, "x-csrf-token": ids["csrf"]} if who == "session+csrf" else cookie


OBJECT = "/node/api/objects/{obj}/operations/{objects_op}/execute"
LINK = "/node/api/links/{link}/operations/{links_op}/execute"
# Not a run of one letter: other tests send such runs as session IDs ("a" * 200), and the
# audit row of this refusal quotes the ID, which the suite's secret search would flag.
LONG = "0123456789" * 500
EXECUTES = [
    # (label, path, who, content, extra headers)
    ("no body", OBJECT, "runner", None, {}),
    ("empty arguments", OBJECT, "runner", b"{}", {}),
    ("arguments", OBJECT, "runner", b'{"name": "x", "n": 1}', {}),
    ("null arguments", OBJECT, "runner", b"null", {}),
    ("a form content type", OBJECT, "runner", b"{}", {"content-type": "text/plain"}),
    ("a link's operation", LINK, "runner", None, {}),
    ("bad JSON", OBJECT, "runner", b"{", {}),
    ("arguments not an object", OBJECT, "runner", b"[1, 2]", {}),
    ("a body not UTF-8", OBJECT, "runner", b'{"a": "\xff"}', {}),
    ("no credentials", OBJECT, None, None, {}),
    ("wrong password", OBJECT, "wrong", None, {}),
    ("a bearer token unknown", OBJECT, None, None, {"authorization": "Bearer nope"}),
    ("a session without its CSRF token", OBJECT, "session", b"{}", {}),
    ("a session with a forged CSRF token", OBJECT, "session", None, {"x-csrf-token": "forged"}),
    ("a session with its CSRF token", OBJECT, "session+csrf", b"{}", {}),
    ("no right", OBJECT, "viewer", None, {}),
    ("out of sight", OBJECT, "nobody", None, {}),
    (
        "no such object",
        "/node/api/objects/" + "0" * 24 + "/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "no such operation",
        "/node/api/objects/{obj}/operations/" + "0" * 24 + "/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "another entity's operation",
        "/node/api/objects/{obj}/operations/{links_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "an object ID too long",
        "/node/api/objects/" + LONG + "/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    ("dots", "/node/api/objects/../operations/%2e%2e/execute", "runner", None, {}),
    (
        "an encoded slash",
        "/node/api/objects/{obj}%2Fx/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "spaces and quotes",
        "/node/api/objects/a%20'%22/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "NUL in the path",
        "/node/api/objects/%00/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    (
        "not UTF-8 in the path",
        "/node/api/objects/%ED%A0%80/operations/{objects_op}/execute",
        "runner",
        None,
        {},
    ),  # fmt: skip
    ("NUL in the query", OBJECT + "?x=%00", "runner", None, {}),
    ("a query string", OBJECT + "?x=1&y=%ff", "runner", None, {}),
    ("trailing slash", OBJECT + "/", "runner", None, {}),
    ("the key's job again", OBJECT, "runner", None, {"idempotency-key": KEY}),
    ("the key for another operation", LINK, "runner", None, {"idempotency-key": KEY}),
    ("a key too long", OBJECT, "runner", None, {"idempotency-key": "k" * 300}),
    ("a body too large", OBJECT, "runner", b"{}" + b" " * (2 * 1024 * 1024), {}),
    ("a body at the limit", OBJECT, "runner", b"{}" + b" " * (1024 * 1024 - 2), {}),
]


class Recorded:
    """What an app records for one request: its audit rows (failed log-ins included) and
    the request series it counts."""

    def __init__(self, api) -> None:
        self.rows: list[dict] = []
        audit = api.ctx.audit
        add, failed = audit.add, audit.login_failed

        def added(entry) -> None:
            self.rows.append({k: v for k, v in vars(entry).items() if k not in ("at", "id")})
            add(entry)

        def login_failed(*args) -> None:
            self.rows.append({"login_failed": args})
            failed(*args)

        audit.add, audit.login_failed = added, login_failed
        self.metrics = api.app.door.metrics if api.app.door else None

    @staticmethod
    def series() -> dict[tuple, float]:
        from opsjobs.api.metrics import http_metrics

        return {
            tuple(sorted(sample.labels.items())): sample.value
            for family in http_metrics().requests.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        }


def _job_ids_hidden(answer: tuple, rows: list[dict], first: str) -> tuple:
    """A new job's ID in place of the ID itself: each request makes a job of its own (but
    for the key's: ``first``, the same through either door)."""
    status, headers, body = answer
    job = orjson.loads(body) if status == 200 else None
    if job is not None and job != first:
        assert is_object_id(job)
        body = b'"<job>"'
        for row in rows:
            if row.get("target_id") == job:
                row["target_id"] = "<job>"
    return status, headers, body


async def _through(api, path: str, headers: dict, content, first: str) -> tuple:
    recorded = Recorded(api)
    before = recorded.series()
    kwargs = {"headers": {**headers, "x-request-id": RID}}
    if content is not None:
        kwargs["content"] = content
    response = await api.client.request("POST", path, **kwargs)
    after = recorded.series()
    counted = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    answer = _job_ids_hidden(_answer(response), recorded.rows, first)
    # The request ID: on every answer but the last resort's (outside the request observer).
    return answer, response.headers.get("x-request-id"), recorded.rows, counted


@pytest.mark.parametrize(
    ("label", "path", "who", "content", "extra"), EXECUTES, ids=[r[0] for r in EXECUTES]
)
async def test_an_execute_is_answered_and_recorded_the_same_through_either_door(
    backend, database_url, label, path, who, content, extra
):
    async with both_apps(database_url) as (front, full):
        ids = await _execute_world(front, full)
        url = path.format(**ids)
        headers = {**_caller(who, ids), **extra}
        seen = [await _through(app, url, headers, content, ids["first"]) for app in (front, full)]
    assert seen[0] == seen[1], label
    answer, rid, rows, counted = seen[0]
    assert rid == RID
    assert sum(counted.values()) == 1, counted  # one request, one count
    if answer[0] == 200 or who == "viewer":
        assert rows and rows[0]["kind"] == "job.execute", rows  # the audit row is there


async def test_the_door_takes_the_execute_posts_it_serves_whole(database_url):
    async with app_client(database_url, max_body_bytes=1000) as api:
        door = api.app.door
        path = f"/node/api/objects/{new_id()}/operations/{new_id()}/execute"
        link = f"/node/api/links/{new_id()}/operations/{new_id()}/execute"
        taken = [
            _scope(path, method="POST"),
            _scope(link, method="POST"),
            _scope(path, method="POST", headers=[(b"content-length", b"0")]),
            _scope(path, method="POST", headers=[(b"content-length", b"1000")]),
        ]
        for scope in taken:
            assert door.match(scope) is not None, scope
        refused = [
            _scope(path),
            _scope(path, method="PUT"),
            _scope(path, method="HEAD"),
            _scope(path, method="POST", headers=[(b"content-length", b"1001")]),
            _scope(path, method="POST", headers=[(b"content-length", b"9" * 5000)]),
            _scope(path, method="POST", headers=[(b"content-length", b"-1")]),
            _scope(path, method="POST", headers=[(b"transfer-encoding", b"chunked")]),
            _scope(path, method="POST", root_path="/prefix"),
            _scope(path + "/", method="POST"),
            _scope("/node/api/objects/\0/operations/x/execute", method="POST"),
            _scope("/node/api/objects/a/b/operations/x/execute", method="POST"),
            _scope("/node/api/classes/a/operations/x/execute", method="POST"),
            _scope(path.replace("/execute", "/arguments"), method="POST"),
        ]
        for scope in refused:
            assert door.match(scope) is None, scope


async def test_a_failure_below_an_execute_is_answered_and_recorded_as_the_whole_app_does(
    database_url,
):
    """After the caller is known, a database out of reach (503) or a bug (500): the same
    answer, the same audit row, the same count, through either door."""
    async with both_apps(database_url) as (front, full):
        ids = await _execute_world(front, full)
        url = OBJECT.format(**ids)
        for failure in (
            sqlalchemy.exc.OperationalError("SELECT", {}, Exception("unable to open database")),
            RuntimeError("a bug with a secret s3cr3t in its message"),
        ):
            seen = []
            for app in (front, full):

                def broken(*_args, error=failure, **_kwargs):
                    raise error

                app.store.directory.can_see_entity = broken
                seen.append(await _through(app, url, _headers("runner"), b"{}", ids["first"]))
            assert seen[0] == seen[1], failure
            (status, _, body), _, rows, _ = seen[0]
            assert status in (500, 503) and b"s3cr3t" not in body
            assert [row["status"] for row in rows] == [status]


async def test_a_stalled_body_is_answered_and_counted_as_the_whole_app_does(database_url):
    """The body limit's 408, given before the route is reached: the same messages, counted
    under no route template, through either door."""
    async with both_apps(database_url, body_timeout_seconds=0.2) as (front, full):
        ids = await _execute_world(front, full)
        path = OBJECT.format(**ids)
        credentials = _headers("runner")["Authorization"].encode()
        seen = []
        for api in (front, full):
            before, messages = Recorded.series(), []

            async def stalled():
                await asyncio.sleep(30)  # the client sent its headers and nothing more

            async def send(message, messages=messages):
                messages.append(message)

            scope = {
                **_scope(path, method="POST"),
                "headers": [(b"host", b"test"), (b"content-length", b"10"),
                            (b"authorization", credentials), (b"x-request-id", RID.encode())],
                "client": ("127.0.0.1", 5000), "server": ("test", 80), "scheme": "http",
            }  # fmt: skip
            await api.app(scope, stalled, send)
            after = Recorded.series()
            seen.append(
                (
                    messages,
                    {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)},
                )
            )
        assert seen[0] == seen[1]
        assert seen[0][0][0]["status"] == 408
        assert [dict(k)["route"] for k in seen[0][1]] == ["(unmatched)"], seen[0][1]
