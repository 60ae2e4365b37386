"""Runners' own liveness: one row per live runner, its heartbeat refreshed by the runner.

The reaper judges a runner, not single jobs: a running job becomes ``lost`` only once its
runner's heartbeat is older than the limit (queue.lost_candidates). So a runner keeps all of
its jobs alive with one small write per interval — also the jobs whose result it holds but
cannot store yet — and job rows are never written just to say "still here".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, literal, update

from ..domain.clock import now_ms
from . import retry
from .core import Store
from .queue import RUNNER_LOST, appended_history, history_entry, in_id_order
from .schema import jobs, runners

# A runner's row left behind this long (it was killed, its host is gone) is deleted; its
# jobs were judged long before.
PRUNE_AFTER_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Registration:
    name: str
    incarnation: str
    host: str
    pid: int


async def register(store: Store, me: Registration) -> list[str]:
    """Put this runner's row in place, first marking ``lost`` any job still running under
    its name: it has claimed nothing yet, so they are an earlier process's that had the same
    name (the same pid on this host) and died. Answers those jobs' IDs."""
    now = now_ms()
    entry = history_entry(now, "lost", me.name, f"its runner {me.name} was started again")

    async def work(conn) -> list[str]:
        lost = await conn.execute(
            update(jobs)
            .where(*in_id_order(store, jobs.c.runner == me.name, jobs.c.status == "running"))
            .values(
                status="lost",
                finished=now,
                error=RUNNER_LOST,
                history=appended_history(store, literal(entry)),
            )
            .returning(jobs.c.id)
        )
        ids = [row.id for row in lost]
        await _enter(conn, me, now)
        return ids

    return await retry.write(store, work, "register runner")


async def _enter(conn, me: Registration, now: int) -> None:
    """This runner's row, in place of any older one under its name."""
    await conn.execute(delete(runners).where(runners.c.name == me.name))
    await conn.execute(
        insert(runners).values(
            name=me.name,
            incarnation=me.incarnation,
            host=me.host,
            pid=me.pid,
            started=now,
            heartbeat=now,
        )
    )


async def record_heartbeat(store: Store, me: Registration) -> None:
    """Say this runner is alive; its row is put back if someone pruned it."""
    now = now_ms()

    async def work(conn) -> None:
        result = await conn.execute(
            update(runners)
            .where(runners.c.name == me.name, runners.c.incarnation == me.incarnation)
            .values(heartbeat=now)
        )
        if result.rowcount == 0:
            await _enter(conn, me, now)

    await retry.write(store, work, "runner heartbeat")


async def deregister(store: Store, me: Registration) -> None:
    """A runner stopping gracefully (no job of its own left running) removes its row."""

    async def work(conn) -> None:
        await conn.execute(
            delete(runners).where(
                runners.c.name == me.name, runners.c.incarnation == me.incarnation
            )
        )

    await retry.write(store, work, "deregister runner")


async def prune(store: Store) -> int:
    """Delete rows of runners silent for a day (killed, their host gone)."""

    async def work(conn) -> int:
        result = await conn.execute(
            delete(runners).where(runners.c.heartbeat < now_ms() - PRUNE_AFTER_MS)
        )
        return result.rowcount

    return await retry.write(store, work, "prune runners")
