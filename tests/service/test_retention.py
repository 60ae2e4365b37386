"""service/retention.py on real databases: the policy deletes exactly the jobs it should (age,
the per-owner minimum, never a queued or running job), output alone goes before its job,
batches stay small, and a dry run deletes nothing."""

from __future__ import annotations

import random

import orjson
import pytest
from sqlalchemy import func, insert, select

from helpers import app_client
from helpers.execution import opened_store
from helpers.retention import DAY_MS, make_job, random_history, store_jobs, survivors
from opsjobs.domain.audit import AuditEntry
from opsjobs.domain.clock import now_ms
from opsjobs.service.retention import Policy, purge_once
from opsjobs.store import audit
from opsjobs.store.audit import AuditQuery
from opsjobs.store.schema import batch_targets, batches, job_output, jobs


async def _ids(store) -> set[str]:
    async with store.read() as conn:
        return {r[0] for r in await conn.execute(select(jobs.c.id))}


async def _chunk_owners(store) -> set[str]:
    async with store.read() as conn:
        return {r[0] for r in await conn.execute(select(job_output.c.job_id).distinct())}


@pytest.mark.parametrize("keep", [0, 1, 3])
async def test_deletes_exactly_what_the_policy_says(backend, database_url, keep) -> None:
    now = now_ms()
    history = random_history(random.Random(f"retention-{keep}"), now, 400)
    expected = survivors(history, now - 30 * DAY_MS, keep)
    assert 0 < len(expected) < len(history)  # the case decides something both ways
    async with opened_store(database_url) as store:
        await store_jobs(store, history)
        run = await purge_once(store, Policy(job_days=30, keep=keep), pause=0, batch_size=7)
        assert await _ids(store) == expected
        assert await _chunk_owners(store) == expected  # output goes with its job
    tally = run.steps[0].tally
    assert run.deleted["jobs"] == tally.deleted == len(history) - len(expected)
    assert tally.chunks == 2 * tally.deleted
    old = [j for j in history if j.timestamp < now - 30 * DAY_MS]
    assert tally.active == sum(1 for j in old if j.status in ("queued", "running"))
    assert tally.kept == len(old) - tally.active - tally.deleted


async def test_the_minimum_counts_recent_jobs_and_never_active_ones(backend, database_url) -> None:
    now = now_ms()
    owner, other, operation = "a" * 24, "b" * 24, "c" * 24
    old = [make_job(owner, operation, now - (40 + i) * DAY_MS) for i in range(6)]
    recent = [make_job(owner, operation, now - DAY_MS) for _ in range(2)]
    stuck = [make_job(owner, operation, now - 50 * DAY_MS, s) for s in ("queued", "running")]
    lone = make_job(other, operation, now - 90 * DAY_MS, "lost")  # its group's only job
    async with opened_store(database_url) as store:
        await store_jobs(store, [*old, *recent, *stuck, lone])
        await purge_once(store, Policy(job_days=30, keep=3), pause=0)
        left = await _ids(store)
    # Two recent ones count toward the three kept: one old one stays, the newest.
    assert left == {j.id for j in [*recent, *stuck, lone]} | {old[0].id}


async def test_a_dry_run_deletes_nothing_and_counts_what_a_run_deletes(
    backend, database_url
) -> None:
    now = now_ms()
    history = random_history(random.Random("dry"), now, 300)
    async with opened_store(database_url) as store:
        await store_jobs(store, history)
        policy = Policy(job_days=30, output_days=10, keep=2)
        dry = await purge_once(store, policy, dry_run=True, pause=0, batch_size=11)
        assert await _ids(store) == {j.id for j in history}
        assert await _chunk_owners(store) == {j.id for j in history}
        real = await purge_once(store, policy, pause=0, batch_size=11)
    assert dry.deleted == real.deleted
    assert dry.deleted["jobs"] > 0 and dry.deleted["outputs"] > 0
    for d, r in zip(dry.steps, real.steps, strict=True):
        if d.tally is None:  # a step that cannot count without deleting (the audit log)
            assert d.name not in dry.deleted
            continue
        assert (d.tally.kept, d.tally.active) == (r.tally.kept, r.tally.active)


async def test_the_audit_log_is_purged_past_its_own_limit(backend, database_url) -> None:
    now = now_ms()
    async with opened_store(database_url) as store:
        old = AuditEntry("job.execute", at=now - 400 * DAY_MS)
        young = AuditEntry("job.execute", at=now - 10 * DAY_MS)
        await audit.append(store, [old, young])
        run = await purge_once(store, Policy(audit_days=365), pause=0, batch_size=1)
        assert run.deleted == {"audit": 1}
        left = await audit.read_audit(store, AuditQuery())
    assert [row["id"] for row in left] == [young.id]


async def test_output_alone_is_purged_and_the_job_stays(backend, database_url) -> None:
    now = now_ms()
    owner, operation = "d" * 24, "e" * 24
    old = [make_job(owner, operation, now - (10 + i) * DAY_MS) for i in range(5)]
    young = make_job(owner, operation, now - DAY_MS)
    running = make_job(owner, operation, now - 20 * DAY_MS, "running")
    async with opened_store(database_url) as store:
        await store_jobs(store, [*old, young, running])
        policy = Policy(job_days=0, output_days=7, keep=2)
        run = await purge_once(store, policy, pause=0, batch_size=2)
        assert await _ids(store) == {j.id for j in [*old, young, running]}
        # Kept with their output: the young one, the newest old one (the minimum of two
        # counts the young one), and the running one.
        assert await _chunk_owners(store) == {young.id, old[0].id, running.id}
        purged = await store.job_row(old[3].id)
        again = await purge_once(store, policy, pause=0, batch_size=2)
    assert run.deleted == {"outputs": 4}
    assert again.deleted == {"outputs": 0}  # it went on from where it stopped
    assert again.steps[1].tally.scanned == 0
    assert orjson.loads(purged.description) == {"stdout": "", "exitCode": 0, "stderr": ""}
    (entry,) = orjson.loads(purged.history)
    assert entry["event"] == "output purged" and entry["by"] == "retention"
    assert entry["detail"] == "output older than 7 days"


async def test_batches_hold_at_most_the_batch_size(backend, database_url) -> None:
    now = now_ms()
    history = [make_job(f"{i % 50:024x}", None, now - 40 * DAY_MS - i) for i in range(230)]
    seen: list[int] = []
    async with opened_store(database_url) as store:
        await store_jobs(store, history, output=False)
        run = await purge_once(
            store,
            Policy(job_days=30, keep=1),
            pause=0,
            batch_size=20,
            progress=lambda _step, n: seen.append(n),
        )
        async with store.read() as conn:
            left = (await conn.execute(select(func.count()).select_from(jobs))).scalar_one()
    assert run.deleted["jobs"] == 180 and left == 50  # one kept per owner
    assert max(seen) <= 20 and len(seen) >= 12


async def _add_batch(store, batch_id: str, status: str, ended: int | None, targets: int) -> None:
    at = ended or now_ms() - 40 * DAY_MS
    row = {"name": "b", "owner_id": "1" * 24, "operation_id": "2" * 24, "target": "{}"}
    async with store.write() as conn:
        await conn.execute(
            insert(batches).values(
                id=batch_id,
                **row,
                concurrency=1,
                status=status,
                created=at,
                updated=at,
                finished_at=ended,
            )  # fmt: skip
        )
        if targets:
            await conn.execute(
                insert(batch_targets),
                [
                    {
                        "batch_id": batch_id,
                        "seq": seq,
                        "entity_id": "3" * 24,
                        "owner_type": 1,
                        "status": "succeeded",
                    }  # fmt: skip
                    for seq in range(targets)
                ],
            )


async def _batch_rows(store) -> tuple[set[str], dict[str, int]]:
    async with store.read() as conn:
        ids = set((await conn.execute(select(batches.c.id))).scalars())
        counts = select(batch_targets.c.batch_id, func.count()).group_by(batch_targets.c.batch_id)
        return ids, dict((await conn.execute(counts)).all())


async def test_ended_batches_go_with_their_targets_under_the_jobs_limit(
    backend, database_url
) -> None:
    now = now_ms()
    old, young = now - 40 * DAY_MS, now - 10 * DAY_MS
    seen: list[int] = []
    async with opened_store(database_url) as store:
        await _add_batch(store, "a" * 24, "finished", old, 25)
        await _add_batch(store, "b" * 24, "cancelled", old, 0)
        await _add_batch(store, "c" * 24, "running", None, 5)  # 40 days old, still running
        await _add_batch(store, "d" * 24, "stopped", young, 3)
        policy = Policy(job_days=30)
        dry = await purge_once(store, policy, dry_run=True, pause=0, batch_size=10)
        assert len((await _batch_rows(store))[0]) == 4, "a dry run deletes nothing"
        run = await purge_once(
            store,
            policy,
            pause=0,
            batch_size=10,
            progress=lambda step, n: seen.append(n) if step.name == "batches" else None,
        )
        ids, targets = await _batch_rows(store)
    assert dry.deleted["batches"] == run.deleted["batches"] == 25 + 2
    assert ids == {"c" * 24, "d" * 24}
    assert targets == {"c" * 24: 5, "d" * 24: 3}
    assert max(seen) <= 10 and len(seen) >= 3, "a big batch goes over several transactions"


async def test_batches_are_kept_for_ever_without_a_jobs_limit(backend, database_url) -> None:
    async with opened_store(database_url) as store:
        await _add_batch(store, "a" * 24, "finished", now_ms() - 4000 * DAY_MS, 2)
        run = await purge_once(store, Policy(output_days=7, audit_days=30), pause=0)
        assert (await _batch_rows(store))[0] == {"a" * 24}
    assert "batches" not in run.deleted


def test_the_output_limit_only_counts_when_shorter_than_the_jobs() -> None:
    now = now_ms()
    assert Policy(job_days=30, output_days=30).output_cutoff(now) is None
    assert Policy(job_days=0, output_days=0).enabled is False
    assert Policy(job_days=0, output_days=7).output_cutoff(now) == now - 7 * DAY_MS
    assert Policy(job_days=30, output_days=7).job_cutoff(now) == now - 30 * DAY_MS


async def test_the_api_shows_a_job_whose_output_was_purged(backend, database_url) -> None:
    async with app_client(database_url) as api:
        admin = await api.admin()
        owner = await api.object("web-1")
        now = now_ms()
        old = make_job(owner, "9" * 24, now - 20 * DAY_MS)
        newer = [make_job(owner, "9" * 24, now - (20 - i) * DAY_MS + 1) for i in range(1, 3)]
        await store_jobs(api.store, [old, *newer])
        await purge_once(api.store, Policy(output_days=7, keep=2), pause=0)
        document = (await api.client.get(f"/node/api/jobs/{old.id}", headers=admin)).json()
        output = await api.client.get(
            f"/node/api/jobs/{old.id}/output", params={"offset": 0}, headers=admin
        )
    assert document["description"] == {"stdout": "", "exitCode": 0, "stderr": ""}
    (entry,) = document["execution"]["history"]
    assert entry["event"] == "output purged" and entry["at"] >= now
    assert output.status_code == 200
    answer = output.json()
    assert answer["data"] == "" and answer["next"] == 0 and answer["finished"] is True
