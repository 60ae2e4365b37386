"""What /metrics and /readyz read from the database: cheap queries only.

Every query here is answered from a small table (runners) or a partial index (the queue's
and the running jobs' indexes of schema.py), never by counting the whole job history, so a
scrape costs the same at a thousand jobs as at a hundred million.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text

from .batches import open_totals
from .core import Store
from .migrate import current_revision, head_revision
from .schema import jobs, runners, schedules, trigger_deliveries, trigger_firings


@dataclass(frozen=True)
class RunnerState:
    name: str
    heartbeat_ms: int
    running: int  # its slots in use: jobs it holds in `running`


@dataclass(frozen=True)
class Snapshot:
    queued: int
    running: int
    oldest_queued_ms: int | None  # the timestamp of the oldest queued job
    runners: list[RunnerState]
    # Trigger firings not acted on yet (the table holds only those), the earliest due time,
    # and messages not delivered yet (a partial index holds only those).
    firings_pending: int = 0
    earliest_firing_ms: int | None = None
    deliveries_open: int = 0
    # The earliest next run of a schedule that is not paused (NULL while paused: indexed).
    earliest_schedule_ms: int | None = None
    # Running batches (a partial index holds only those) and their targets still waiting
    # for a job (read through the index on batch and status).
    batches_running: int = 0
    batch_targets_waiting: int = 0


async def snapshot(store: Store) -> Snapshot:
    async with store.read() as conn:
        queued = await conn.execute(
            select(func.count(), func.min(jobs.c.timestamp)).where(jobs.c.status == "queued")
        )
        queued_count, oldest = queued.one()
        held = await conn.execute(
            select(jobs.c.runner, func.count())
            .where(jobs.c.status == "running")
            .group_by(jobs.c.runner)
        )
        running_by_runner = {runner: count for runner, count in held}
        rows = await conn.execute(select(runners.c.name, runners.c.heartbeat))
        states = [
            RunnerState(name, heartbeat, running_by_runner.get(name, 0)) for name, heartbeat in rows
        ]
        firings = await conn.execute(select(func.count(), func.min(trigger_firings.c.due_at)))
        firings_pending, earliest = firings.one()
        deliveries_open = (
            await conn.execute(
                select(func.count())
                .select_from(trigger_deliveries)
                .where(text("status IN ('pending', 'sending')"))
            )
        ).scalar_one()
        earliest_schedule = (await conn.execute(select(func.min(schedules.c.next_run_at)))).scalar()
    batches_running, waiting = await open_totals(store)
    return Snapshot(
        queued_count,
        sum(running_by_runner.values()),
        oldest,
        states,
        firings_pending,
        earliest,
        deliveries_open,
        earliest_schedule,
        batches_running,
        waiting,
    )


async def schema_is_current(store: Store) -> bool:
    async with store.read() as conn:
        return await current_revision(conn) == head_revision()


async def runner_heartbeat(store: Store, name: str) -> int | None:
    """The runner's last heartbeat (epoch ms), or None when it has no row."""
    async with store.read() as conn:
        result = await conn.execute(select(runners.c.heartbeat).where(runners.c.name == name))
        return result.scalar_one_or_none()
