"""A database that is down, unreachable or locked gives 503 with Retry-After, in bounded time.

PostgreSQL is reached through a TCP proxy run by the test: stopping the proxy is an outage
for the app (its pooled connections break, new ones are refused) without touching the
machine's server; a proxy that accepts and never answers is a database that hangs. SQLite is
locked by another connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from helpers import add_job, app_client, assert_error
from helpers.proxy import Proxy
from opsjobs.store.db import unavailable

TIMEOUT = 1.0  # the app's database timeout in these tests
BOUND = 15.0  # generous, for a busy machine: what matters is that it is not unbounded


@pytest.fixture
def pg_proxy(backend, database_url) -> Iterator[tuple[Proxy, str]]:
    if backend != "postgresql":
        pytest.skip("an outage of PostgreSQL")
    url = make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.set("forward")
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    finally:
        proxy.close()


def behind(url: str):
    """The app on the database behind the proxy, its outages answered, not raised."""
    return app_client(
        url, raise_app_exceptions=False, database_timeout_seconds=TIMEOUT, embedded_runner=False
    )


def assert_unavailable(response) -> None:
    assert_error(response, 503, "ServiceUnavailable")
    assert int(response.headers["retry-after"]) > 0


async def answering(request, status: int, tries: int = 50):
    """The response once ``request()`` answers ``status``: the pool reconnects by itself."""
    for _ in range(tries):
        response = await request()
        if response.status_code == status:
            return response
        await asyncio.sleep(0.2)
    raise AssertionError(f"still {response.status_code} after {tries} tries: {response.text}")


async def timed(call):
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


async def test_postgresql_down_gives_503_quickly_and_recovers(pg_proxy):
    proxy, url = pg_proxy
    async with behind(url) as api:
        admin = await api.admin()
        object_id = await api.object("web")
        one_job = f"/node/api/jobs/{'0' * 24}"
        assert (await api.client.get(one_job, headers=admin)).status_code == 404
        requests = [
            lambda: api.client.get(one_job, headers=admin),
            lambda: api.client.post("/node/api/jobs", json={"objects": [object_id]}, headers=admin),
            lambda: api.client.get(f"/node/api/objects/{object_id}/jobs", headers=admin),
            lambda: api.client.post("/node/api/objects", json={"name": "new"}, headers=admin),
        ]
        for mode in ("down", "hang"):
            proxy.set(mode)  # pooled connections break; new ones are refused or hang
            for request in requests:
                response, took = await timed(request())
                assert_unavailable(response)
                assert took < BOUND, (mode, took)
            proxy.set("forward")
            # Back: the pool reconnects, nothing to restart.
            await answering(lambda: api.client.get(one_job, headers=admin), 404)
            response = await api.client.post(
                "/node/api/jobs", json={"objects": [object_id]}, headers=admin
            )
            assert response.status_code == 200 and response.json() == []


async def test_a_locked_sqlite_database_gives_503_within_the_timeout(backend, database_url):
    if backend != "sqlite":
        pytest.skip("SQLite's lock")
    path = make_url(database_url).database
    async with app_client(
        database_url, raise_app_exceptions=False, database_timeout_seconds=TIMEOUT
    ) as api:
        admin = await api.admin()
        assert (
            await api.client.post("/node/api/objects", json={"name": "a"}, headers=admin)
        ).status_code == 200
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # another process's long write
            response, took = await timed(
                api.client.post("/node/api/objects", json={"name": "b"}, headers=admin)
            )
            assert_unavailable(response)
            assert TIMEOUT * 0.5 < took < BOUND, took
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        response = await api.client.post("/node/api/objects", json={"name": "c"}, headers=admin)
        assert response.status_code == 200, response.text


def test_outages_are_told_apart_from_faults():
    import asyncpg
    import sqlalchemy.exc

    assert unavailable(ConnectionRefusedError(111, "refused"))
    assert unavailable(TimeoutError())
    assert unavailable(sqlite3.OperationalError("database is locked"))
    assert unavailable(sqlalchemy.exc.TimeoutError("QueuePool limit reached"))
    assert unavailable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert unavailable(asyncpg.exceptions.TooManyConnectionsError("too many"))
    assert unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    wrapped = sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, sqlite3.OperationalError("database is locked")
    )
    assert unavailable(wrapped)
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as exc:
            raise RuntimeError("Caught handled exception, but response already started.") from exc
    except RuntimeError as outer:
        assert unavailable(outer)
    assert not unavailable(sqlite3.OperationalError("no such table: jobs"))
    assert not unavailable(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("unique")))
    assert not unavailable(ValueError("bad"))
    assert not unavailable(FileNotFoundError(2, "missing"))


async def test_a_failure_after_the_status_went_out_breaks_the_response(database_url, log_since):
    """Once a streamed answer has begun, the exception leaves the app, so that the server
    aborts the connection (granian does): the client never gets a short body that looks
    complete."""
    from starlette.routing import Route

    from conftest import settings_for_test
    from opsjobs.api.context import Context
    from opsjobs.api.responses import READ_AHEAD_BYTES, streamed_json
    from opsjobs.compose import server_app

    async def chunks():
        yield b"[" + b"1," * (READ_AHEAD_BYTES // 2)  # past what is made before answering
        raise ConnectionResetError(104, "connection reset by the database")

    async def streams(_request):
        return await streamed_json(chunks())

    app = server_app(context=Context.create(settings_for_test(database_url)))
    app.router.routes.insert(0, Route("/node/api/test-streams", streams, methods=["GET"]))
    sent = []

    async def receive():
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/node/api/test-streams", "raw_path": b"/node/api/test-streams",
        "query_string": b"", "root_path": "", "headers": [], "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    with pytest.raises(Exception) as raised:  # noqa: PT011 - whichever wraps the cause
        await app(scope, receive, send)
    assert unavailable(raised.value)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert all(m.get("more_body") for m in bodies), sent  # never a finished body
    assert any(
        'event="database unavailable while responding"' in line for line in log_since.lines()
    )


async def _failing_at_once():
    raise ConnectionRefusedError(111, "refused")
    yield b"["  # pragma: no cover


async def _failing_before_the_end():
    yield b"[1"
    yield b",2"
    raise ConnectionResetError(104, "connection reset by the database")


@pytest.mark.parametrize("chunks", [_failing_at_once, _failing_before_the_end])
async def test_a_failure_before_a_short_answer_ends_is_an_ordinary_503(database_url, chunks):
    """An answer that ends within the read-ahead is made whole before its status line: a
    failure at its first chunk or after it is a 503, not a 200 cut short."""
    from starlette.routing import Route

    from opsjobs.api.responses import streamed_json

    async def streams(_request):
        return await streamed_json(chunks())

    def hook(app):
        app.router.routes.insert(0, Route("/node/api/test-streams", streams, methods=["GET"]))

    async with app_client(database_url, app_hook=hook) as api:
        assert_unavailable(await api.client.get("/node/api/test-streams"))


async def test_answers_short_and_long_are_whole(database_url):
    """A short answer is one body with its length; a long one is streamed, every chunk of
    it, in order."""
    from starlette.routing import Route

    from opsjobs.api.responses import READ_AHEAD_BYTES, streamed_json

    piece = b"7," * (READ_AHEAD_BYTES // 8)
    sizes = {"short": 2, "long": 9}

    async def chunks(n):
        yield b"["
        for _ in range(n):
            yield piece
        yield b"7]"

    async def streams(request):
        return await streamed_json(chunks(sizes[request.path_params["size"]]))

    def hook(app):
        route = Route("/node/api/test-streams/{size}", streams, methods=["GET"])
        app.router.routes.insert(0, route)

    async with app_client(database_url, app_hook=hook) as api:
        for size, n in sizes.items():
            response = await api.client.get(f"/node/api/test-streams/{size}")
            assert response.status_code == 200
            assert response.json() == [7] * (n * len(piece) // 2 + 1)
            whole = "content-length" in response.headers
            assert whole == (size == "short"), (size, response.headers)


async def test_a_history_list_whose_database_goes_after_its_first_batch_is_a_503(
    pg_proxy, monkeypatch
):
    """The fault drill's case: PostgreSQL goes away between the cursor's first batch and
    its end. The list fits in the read-ahead, so it is a 503, never a broken 200."""
    from opsjobs.api.routes import jobs as job_routes

    proxy, url = pg_proxy
    read_history = job_routes.stream_history

    async def then_down(*args, **kwargs):
        async for batch in read_history(*args, **kwargs):
            yield batch
            proxy.set("down")  # every pooled connection breaks, this cursor's too

    async with behind(url) as api:
        admin = await api.admin()
        object_id = await api.object("web")
        path = f"/node/api/objects/{object_id}/jobs?limit=10"
        assert (await api.client.get(path, headers=admin)).json() == []
        listed = await add_job(api.ctx.store, object_id)
        with monkeypatch.context() as patch:
            patch.setattr(job_routes, "stream_history", then_down)
            assert_unavailable(await api.client.get(path, headers=admin))
        proxy.set("forward")
        response = await answering(lambda: api.client.get(path, headers=admin), 200)
        assert [job["id"] for job in response.json()] == [listed]
