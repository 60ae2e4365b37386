"""Changing requests on SQLite take turns, paced while reads are served (api/admission.py):
a flat-out burst of changes cannot starve the reads beside it."""

from __future__ import annotations

import asyncio
import time

import pytest

from opsjobs.api.admission import WriteAdmission, WriteTurns, takes_turn
from opsjobs.api.context import Context
from opsjobs.config import Settings


@pytest.mark.parametrize(
    ("method", "path", "turn"),
    [
        ("PATCH", "/node/api/objects/abc", True),
        ("PUT", "/node/api/links/abc/state", True),
        ("DELETE", "/node/api/objects/abc", True),
        ("POST", "/node/api/objects", True),
        ("GET", "/node/api/jobs/abc", False),
        ("HEAD", "/node/api/objects/abc", False),
        ("POST", "/node/api/jobs", False),  # a history list: a read
        ("POST", "/node/api/users/session", False),  # the log-in: bounded by its throttle
        ("POST", "/node/api/objects/a/operations/b/execute", False),  # batched, cheap
        ("PATCH", "/elsewhere", False),
        ("BREW", "/node/api/objects/abc", False),
    ],
)
def test_which_requests_take_turns(method, path, turn):
    assert takes_turn(method, path) is turn


def _scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def _nothing(_message=None):
    return {"type": "http.request", "body": b"", "more_body": False}


def _burn(seconds: float) -> None:
    ends = time.thread_time() + seconds
    while time.thread_time() < ends:
        pass


async def test_one_change_at_a_time():
    under_way, most = [0], [0]

    async def app(scope, receive, send):
        under_way[0] += 1
        most[0] = max(most[0], under_way[0])
        await asyncio.sleep(0.01)
        under_way[0] -= 1

    admission = WriteAdmission(app, WriteTurns(1, 1.0))
    changes = [
        admission(_scope("PATCH", f"/node/api/objects/{n}"), _nothing, _nothing) for n in range(5)
    ]
    await asyncio.gather(*changes, admission(_scope("GET", "/node/api/jobs/x"), _nothing, _nothing))
    assert most[0] == 2  # four changes waited; the read did not
    assert under_way[0] == 0


async def test_changes_beside_reads_take_at_most_their_share():
    """Each change burns 5 ms of CPU; with reads coming in and a share of 0.2, the next
    change starts no sooner than 4 × 5 ms after the last ended."""
    starts: list[float] = []

    async def app(scope, receive, send):
        if scope["method"] == "PATCH":
            starts.append(time.perf_counter())
            _burn(0.005)
        else:
            await asyncio.sleep(0)

    admission = WriteAdmission(app, WriteTurns(1, 0.2))
    stop = False

    async def reader():
        while not stop:
            await admission(_scope("GET", "/node/api/jobs/x"), _nothing, _nothing)
            await asyncio.sleep(0.001)

    readers = [asyncio.ensure_future(reader()) for _ in range(4)]
    await asyncio.sleep(0.01)
    await asyncio.gather(
        *(admission(_scope("PATCH", "/node/api/objects/o"), _nothing, _nothing) for _ in range(5))
    )
    stop = True
    await asyncio.gather(*readers)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.005 + 4 * 0.005 * 0.8  # the change, then four times it (some slack)


async def test_changes_alone_are_not_paced():
    starts: list[float] = []
    ends: list[float] = []

    async def app(scope, receive, send):
        starts.append(time.perf_counter())
        _burn(0.005)
        ends.append(time.perf_counter())

    admission = WriteAdmission(app, WriteTurns(1, 0.1))
    for _ in range(5):
        await admission(_scope("PATCH", "/node/api/objects/o"), _nothing, _nothing)
    # From the end of one change to the start of the next: paced, that would be at least
    # 9 × its 5 ms of CPU. (Not start to start: on a busy machine 5 ms of CPU can take far
    # longer than 5 ms of wall time.)
    pauses = [b - a for a, b in zip(ends, starts[1:], strict=False)]
    assert max(pauses) < 0.04  # nobody else was waiting


async def test_no_limit_on_postgresql_or_when_off(tmp_path):
    sqlite = Context.create(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    assert sqlite.write_turns.limited
    off = Context.create(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", writes_at_once=0))
    assert not off.write_turns.limited
    pg = Context.create(Settings(database_url="postgresql://127.0.0.1:5432/test"))
    assert not pg.write_turns.limited


async def test_a_change_whose_body_trickles_holds_no_turn(api):
    """The turn is taken once the body is in: a client that sends its body slowly does not
    keep every other change waiting."""
    admin = await api.admin()
    slow_one, other = await api.object("slow"), await api.object("other")
    release = asyncio.Event()

    async def trickle():
        yield b'{"state_id":'
        await release.wait()
        yield b" 3}"

    headers = {**admin, "content-type": "application/json"}
    slow = asyncio.ensure_future(
        api.client.patch(f"/node/api/objects/{slow_one}", content=trickle(), headers=headers)
    )
    await asyncio.sleep(0.1)
    fast = await asyncio.wait_for(
        api.client.patch(f"/node/api/objects/{other}", json={"state_id": 5}, headers=admin), 10
    )
    assert (fast.status_code, fast.json()["state_id"]) == (200, 5)
    assert not slow.done()
    release.set()
    answer = await asyncio.wait_for(slow, 10)
    assert (answer.status_code, answer.json()["state_id"]) == (200, 3)
