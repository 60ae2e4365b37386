"""Claim order (docs/decisions.md, "Batches and fairness"): a person's job (no
``process_meta``) is taken before every job a trigger, a schedule or a batch queued, however
many of those wait and however much older they are; each kind oldest first. Both claim
paths: SQLite's immediate one and the pooled one (PostgreSQL's, and SQLite's when the lock
is taken)."""

from __future__ import annotations

import orjson
import pytest

from helpers.execution import opened_store
from opsjobs.domain.kinds import EntityKind
from opsjobs.service.execute import job_row
from opsjobs.store import queue


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


def _row(timestamp: int, meta: dict | None) -> dict:
    row = job_row(
        owner_id="1",
        kind=EntityKind.OBJECT,
        operation_id=None,
        operation_name="op",
        user_id=None,
        spec='{"type": "exec", "argv": ["true"], "timeout": 5}',
        runner_tag=None,
        process_meta=None if meta is None else orjson.dumps(meta).decode(),
    )
    return {**row, "timestamp": timestamp}


@pytest.mark.parametrize("path", ["immediate", "pool"])
async def test_a_person_goes_first(store, path):
    if path == "pool":
        store.immediate = None  # (closed with the store's other connections all the same)
    background = [_row(1000 + i, {"batch": {"id": "b", "name": "n"}}) for i in range(30)]
    person = _row(5000, None)
    late_person = _row(6000, None)
    for row in [*background, person, late_person]:
        await queue.enqueue(store, row)
    assert [r["priority"] for r in (background[0], person)] == [1, 0]
    first = await queue.claim_many(store, "r1", (), 1)
    assert [job.id for job in first] == [person["id"]]
    following = await queue.claim_many(store, "r1", (), 3)
    # (What one claim takes, it answers oldest first.)
    assert {job.id for job in following} == {
        late_person["id"],
        background[0]["id"],
        background[1]["id"],
    }
