"""The reaper: running jobs whose runner stopped become ``lost``, their processes ended.

Every ``opsjobs serve`` and every runner reaps, whoever's jobs they are, so lost jobs are
found even when no runner is left. A runner is judged by its own heartbeat (store/runners.py),
not by one job's. Before a job is marked lost, whatever processes of it run on this host
are killed (leftovers.py); ones on another host are killed by the next runner or server
started there, which ends the processes of every ``lost`` job it finds. Several reapers at
once do no harm: each step is guarded by the job's status and the runner's heartbeat.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Collection

import structlog

from ..store.core import Store
from ..store.queue import JobPlace, job_places, lost_candidates, mark_lost
from ..store.retry import describe
from ..store.runners import prune
from .leftovers import alive_since, end_processes, marked_processes

log = structlog.get_logger("opsjobs.execution")

# Rows of runners dead for a day are pruned this often (in reap cycles).
PRUNE_EVERY = 1000


def process_name() -> str:
    """host/pid: how a process names itself in a runner column or a history entry."""
    return f"{socket.gethostname()}/{os.getpid()}"


def reap_interval(lost_after_seconds: float) -> float:
    # Twice per limit: a job is declared lost at most 1.5 limits after its runner's last beat.
    return max(0.05, lost_after_seconds / 2)


def _runner_lives_here(place: JobPlace, host: str) -> bool:
    return (
        place.host == host
        and place.pid is not None
        and alive_since(place.pid, place.registered or 0)
    )


async def end_leftovers(
    store: Store, doomed: Collection[str] = (), own_jobs: Collection[str] = ()
) -> list[int]:
    """End this host's processes of jobs that are ``lost`` or in ``doomed`` (about to be
    marked lost); ``own_jobs`` are the caller's running jobs, never touched here. Nor are
    the jobs of a runner that is silent but whose process still lives on this host (it
    cannot write, or it stalled): it stops them itself once it sees them lost."""
    marked = await asyncio.to_thread(marked_processes)
    others = {job: pids for job, pids in marked.items() if job not in own_jobs}
    if not others:
        return []
    places = await job_places(store, list(others))
    host = socket.gethostname()
    ending = {
        job
        for job, place in places.items()
        if (job in doomed or place.status == "lost") and not _runner_lives_here(place, host)
    }
    if not ending:
        return []
    job_of = {pid: job for job in ending for pid in others[job]}
    ended = await asyncio.to_thread(end_processes, sorted(job_of), job_of)
    if ended:
        log.warning("ended the processes of lost jobs", job_ids=sorted(ending), pids=ended)
    return ended


async def reap_once(
    store: Store,
    lost_after_seconds: float,
    own: str | None = None,
    own_jobs: Callable[[], Collection[str]] | None = None,
    by: str | None = None,
) -> list[str]:
    """One round: judge runners, end the doomed jobs' processes here, mark them lost.
    ``own_jobs()``: the jobs ``own`` runs, asked once the running jobs are read (without
    it, none of ``own``'s jobs is judged)."""
    candidates = await lost_candidates(store, lost_after_seconds, own, own_jobs)
    held = own_jobs() if own_jobs is not None else ()
    await end_leftovers(store, {c.job_id for c in candidates}, held)
    lost = await mark_lost(store, candidates, by or own or process_name())
    if lost:
        log.warning(
            "jobs lost: their runner stopped",
            job_ids=lost,
            runners=sorted({c.runner or "-" for c in candidates if c.job_id in set(lost)}),
        )
    return lost


async def reap_forever(
    store: Store,
    lost_after_seconds: float,
    own: str | None = None,
    own_jobs: Callable[[], Collection[str]] | None = None,
) -> None:
    """Reap until cancelled. ``own``: the caller's runner, never judged here (alive while
    this runs); ``own_jobs()``: the jobs it is running."""
    rounds = 0
    while True:
        try:
            await reap_once(store, lost_after_seconds, own, own_jobs)
            rounds += 1
            if rounds % PRUNE_EVERY == 1:
                await prune(store)
        except Exception as exc:  # a database hiccup must not end the loop
            log.warning("reaping lost jobs failed", error=describe(exc))
        await asyncio.sleep(reap_interval(lost_after_seconds))
