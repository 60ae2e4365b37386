"""The outbox of trigger messages (store/outbox.py): claims under a lease, a lease that ran
out taken again, finishing guarded by the claim, retries until the attempts are spent, and
two senders that never take one row, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import bindparam, text

from helpers.deliveries import delivery, pending_delivery
from helpers.execution import opened_store
from opsjobs.domain.clock import now_ms
from opsjobs.store import outbox
from opsjobs.store.core import Store

T0 = 1_800_000_000_000
LEASE = 60_000


@pytest.fixture
async def store(backend, database_url):
    async with opened_store(database_url) as opened:
        yield opened


async def test_a_claim_takes_pending_rows_under_a_lease(store):
    first = await pending_delivery(
        store, "sms", {"phone": "+1 555 0100"}, owner_id="1", fired_at=T0
    )
    second = await pending_delivery(
        store, "e-mail", {"to": "a@example.org"}, owner_id="1", fired_at=T0 + 1
    )

    claimed = await outbox.claim_pending(store, T0 + 10, LEASE, 10)

    assert [c.id for c in claimed] == [first, second]  # oldest first
    assert [c.attempts for c in claimed] == [1, 1]
    assert claimed[0].recipient == '{"phone":"+1 555 0100"}'
    row = await delivery(store, first)
    assert (row["status"], row["lease_until"], row["attempts"]) == ("sending", T0 + 10 + LEASE, 1)
    # Held: nobody else takes them while the lease lasts.
    assert await outbox.claim_pending(store, T0 + 20, LEASE, 10) == []


async def test_a_claim_takes_no_more_than_its_limit(store):
    ids = [
        await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1", fired_at=T0 + n)
        for n in range(5)
    ]
    assert [c.id for c in await outbox.claim_pending(store, T0 + 10, LEASE, 2)] == ids[:2]
    assert [c.id for c in await outbox.claim_pending(store, T0 + 10, LEASE, 10)] == ids[2:]


async def test_a_lease_that_ran_out_is_taken_again_and_the_old_claim_records_nothing(store):
    delivery_id = await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1")
    (first,) = await outbox.claim_pending(store, T0, LEASE, 1)
    assert await outbox.claim_pending(store, T0 + LEASE - 1, LEASE, 1) == []

    (second,) = await outbox.claim_pending(store, T0 + LEASE + 1, LEASE, 1)

    assert (second.id, second.attempts) == (delivery_id, 2)
    # The sender that died (or was slow) cannot finish the row the next one holds.
    assert not await outbox.finish(
        store, delivery_id, "delivered", "late", T0, attempt=first.attempts
    )
    assert await outbox.finish(store, delivery_id, "delivered", "ok", T0 + LEASE + 5, attempt=2)
    row = await delivery(store, delivery_id)
    assert (row["status"], row["detail"], row["finished"], row["lease_until"]) == (
        "delivered",
        "ok",
        T0 + LEASE + 5,
        None,
    )
    # Finished rows are no longer open.
    assert await outbox.claim_pending(store, T0 + 10 * LEASE, LEASE, 10) == []


async def test_retry_later_waits_and_then_fails_once_the_attempts_are_spent(store):
    delivery_id = await pending_delivery(store, "e-mail", {"to": "a@example.org"}, owner_id="1")
    now = T0
    for attempt in (1, 2):
        (claimed,) = await outbox.claim_pending(store, now, LEASE, 1)
        assert claimed.attempts == attempt
        status = await outbox.retry_later(
            store, delivery_id, now + 1000, "refused", attempts_max=3, now=now, attempt=attempt
        )
        assert status == "pending"
        row = await delivery(store, delivery_id)
        assert (row["status"], row["lease_until"], row["detail"]) == (
            "pending",
            now + 1000,
            "refused",
        )
        assert await outbox.claim_pending(store, now + 999, LEASE, 1) == []  # not before
        assert await outbox.next_attempt_at(store) == now + 1000
        now += 1000

    (claimed,) = await outbox.claim_pending(store, now, LEASE, 1)
    status = await outbox.retry_later(
        store, delivery_id, now + 1000, "refused", attempts_max=3, now=now, attempt=3
    )

    assert status == "failed"
    row = await delivery(store, delivery_id)
    assert row["status"] == "failed"
    assert row["detail"] == "gave up after 3 attempts: refused"
    assert (row["finished"], row["lease_until"], row["attempts"]) == (now, None, 3)
    assert await outbox.next_attempt_at(store) is None


async def test_finish_takes_only_final_statuses(store):
    with pytest.raises(ValueError, match="not a final status"):
        await outbox.finish(store, "x", "pending", "", T0)


async def test_two_senders_never_take_the_same_row(store, database_url):
    total = 120
    for n in range(total):
        await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1", fired_at=T0 + n)
    taken: list[list[str]] = [[], []]

    async def sender(into: list[str]) -> None:
        # A store of its own: another pool, as another server process has.
        async with opened_store(database_url) as own:
            while claimed := await outbox.claim_pending(own, now_ms(), LEASE, 7):
                into.extend(c.id for c in claimed)
                await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(sender(taken[0]), sender(taken[1])), 60)

    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == total
    assert len(set(taken[0]) | set(taken[1])) == total


async def test_a_sender_with_nothing_to_do_reads_the_open_rows_index(store, backend):
    # Many finished rows and one pending: the scans go through the partial index.
    query = (
        "SELECT id FROM trigger_deliveries WHERE status IN ('pending', 'sending') "
        "AND (lease_until IS NULL OR lease_until <= 5) LIMIT 1"
    )
    async with store.write() as conn:
        if backend == "sqlite":
            plan = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")).all()
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (await conn.exec_driver_sql(f"EXPLAIN {query}")).all()
    assert "ix_trigger_deliveries_open" in " ".join(str(step) for step in plan)
    assert await outbox.anything_ready(store, T0) is False


async def test_on_postgresql_a_claim_skips_rows_another_sender_is_taking(store, backend):
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    ids = [
        await pending_delivery(store, "sms", {"phone": "+15550100"}, owner_id="1", fired_at=T0 + n)
        for n in range(6)
    ]
    other = Store(store.db.url)  # another process's pool
    await other.open()
    try:
        async with other.write() as conn:
            # Another sender, in the middle of its claim: it holds the three oldest rows.
            await conn.execute(
                text("SELECT id FROM trigger_deliveries WHERE id IN :ids FOR UPDATE").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids[:3]},
            )
            claimed = await asyncio.wait_for(outbox.claim_pending(store, T0 + 10, LEASE, 10), 30)
            assert [c.id for c in claimed] == ids[3:]  # at once, without waiting for them
        claimed = await outbox.claim_pending(store, T0 + 10, LEASE, 10)
        assert [c.id for c in claimed] == ids[:3]
    finally:
        await other.close()
