"""api/front_door.py: GET /node/api/jobs/:id answered ahead of the middleware stack, with
the very answers (status, headers, body) the whole app gives, and everything the skipped
layers would refuse sent through the whole app."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy.exc

from conftest import basic
from helpers import add_job, app_client
from opsjobs.domain.ids import new_id

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
                answers.append(_answer(await app.client.get(url, headers=_headers("reader"))))
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
