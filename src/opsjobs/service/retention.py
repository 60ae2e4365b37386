"""Retention: which jobs and outputs are purged, as a list of purge steps run in order.

A step is ``purge(store, older_than_ms, batch_size) -> int`` (rows deleted in one batch, at
most about ``batch_size``; or a ``Batch`` when the step knows better whether more is left).
The runner calls it again, with a pause between calls, while it answers a full batch, so
readers and writers of the database never wait for more than one batch. ``steps()`` is the
one place that lists them: another kind of row with an age is one more line there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..domain.clock import now_ms
from ..store import retention
from ..store.audit import purge_audit
from ..store.batches import count_ended, purge_ended
from ..store.core import Store

DAY_MS = 86_400_000
BATCH_SIZE = 100
# Between two batches the database's other users, and the API on the same core, get their
# turn: at least PAUSE_SECONDS, and long enough that purging takes at most BUSY_SHARE of the
# time (a batch of 100 jobs costs some 10-20 ms of a core on SQLite: docs/decisions.md).
PAUSE_SECONDS = 0.05
BUSY_SHARE = 0.1
# A batch that took very long (a lock, a stalled disk) is not paid back in full.
MAX_PAUSE_SECONDS = 5.0


@dataclass(frozen=True)
class Policy:
    """How long jobs and their output are kept; 0 days means for ever."""

    job_days: float = 0
    output_days: float = 0
    keep: int = 10
    audit_days: float = 0  # the audit log's own limit (its rows outlive the jobs they name)

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """From config.Settings (which this layer does not import)."""
        return cls(
            settings.retention_days,
            settings.output_retention_days,
            settings.retention_keep_per_owner_operation,
            settings.audit_retention_days,
        )

    @property
    def enabled(self) -> bool:
        return self.job_days > 0 or self.output_days > 0 or self.audit_days > 0

    def audit_cutoff(self, now: int) -> int | None:
        return int(now - self.audit_days * DAY_MS) if self.audit_days > 0 else None

    def job_cutoff(self, now: int) -> int | None:
        return int(now - self.job_days * DAY_MS) if self.job_days > 0 else None

    def output_cutoff(self, now: int) -> int | None:
        """Output older than this goes before its job does; None when it simply goes with
        its job (no output limit, or one no shorter than the jobs')."""
        if self.output_days <= 0 or 0 < self.job_days <= self.output_days:
            return None
        return int(now - self.output_days * DAY_MS)


class Batch(NamedTuple):
    deleted: int
    more: bool


@dataclass
class Tally:
    """What one step did in one run (or would do, in a dry run)."""

    deleted: int = 0
    chunks: int = 0  # output chunks deleted with the rows
    kept: int = 0  # old enough, kept by the per-owner minimum
    active: int = 0  # old enough, but queued or running
    scanned: int = 0
    position: str = ""  # the last job ID looked at: how far in time the walk has got

    def add(self, page: retention.Page, deleted: int, chunks: int) -> None:
        self.deleted += deleted
        self.chunks += chunks
        self.kept += page.kept
        self.active += page.active
        self.scanned += page.scanned
        self.position = page.last or self.position


Purge = Callable[[Store, int, int], Awaitable["int | Batch"]]


class Step(NamedTuple):
    name: str
    cutoff: int | None  # older_than_ms; None: the step has nothing to do
    purge: Purge
    # What the step tells beyond the rows it deleted; a step with one counts dry runs itself
    # (deletes nothing when told so), a step without one is left out of a dry run.
    tally: Tally | None = None


class JobsStep:
    """Finished jobs older than the cutoff, but the per-owner minimum, with their output."""

    def __init__(self, keep: int, tally: Tally, dry_run: bool) -> None:
        self.keep, self.tally, self.dry_run = keep, tally, dry_run
        self.after = ""  # the walk starts from the oldest ID on every run

    async def __call__(self, store: Store, older_than_ms: int, batch_size: int) -> Batch:
        page = await retention.read_page(
            store, after=self.after, cutoff_ms=older_than_ms, keep=self.keep, size=batch_size
        )
        self.after = page.last or self.after
        if self.dry_run:
            self.tally.add(page, len(page.purge), 0)
            return Batch(len(page.purge), page.more(batch_size))
        done = await retention.delete_jobs(store, page.purge)
        self.tally.add(page, done.jobs, done.chunks)
        return Batch(done.jobs, page.more(batch_size))


class OutputStep:
    """Output of finished jobs older than its own, shorter limit: the chunks are deleted
    and the description's streams emptied; the job stays. The walk goes on from where the
    last run stopped (a job passed over while kept or running keeps its output until the
    job itself goes). Nothing older than the jobs' own cutoff is its business: such a job is
    deleted whole by the jobs step, or kept whole by the same minimum."""

    def __init__(
        self, keep: int, tally: Tally, dry_run: bool, days: float, job_cutoff: int | None
    ) -> None:
        self.keep, self.tally, self.dry_run = keep, tally, dry_run
        self.detail = f"output older than {days:g} days"
        self.floor = "" if job_cutoff is None else retention.id_floor(job_cutoff)
        self.after: str | None = None

    async def __call__(self, store: Store, older_than_ms: int, batch_size: int) -> Batch:
        if self.after is None:
            self.after = max(self.floor, await retention.read_mark(store, retention.OUTPUT_STEP))
        page = await retention.read_page(
            store,
            after=self.after,
            cutoff_ms=older_than_ms,
            keep=self.keep,
            size=batch_size,
            output_only=True,
        )
        self.after = page.last or self.after
        if self.dry_run:
            self.tally.add(page, len(page.purge), 0)
            return Batch(len(page.purge), page.more(batch_size))
        done = await retention.purge_output(store, page.purge, self.detail, page.last)
        self.tally.add(page, done.jobs, done.chunks)
        return Batch(done.jobs, page.more(batch_size))


class BatchesStep:
    """Batches that ended before the jobs' cutoff, with their targets (store/batches.py):
    they are history of jobs, and go under the jobs' limit."""

    def __init__(self, tally: Tally, dry_run: bool) -> None:
        self.tally, self.dry_run = tally, dry_run

    async def __call__(self, store: Store, older_than_ms: int, batch_size: int) -> Batch:
        if self.dry_run:
            deleted, more = await count_ended(store, older_than_ms), False
        else:
            deleted = await purge_ended(store, older_than_ms, batch_size)
            more = deleted >= batch_size
        self.tally.deleted += deleted
        return Batch(deleted, more)


def steps(policy: Policy, now: int, *, dry_run: bool = False) -> list[Step]:
    """The purge steps, in the order they run: jobs first, so that the output step does
    not empty what is about to be deleted anyway."""
    jobs_tally, output_tally, batches_tally = Tally(), Tally(), Tally()
    return [
        Step("jobs", policy.job_cutoff(now), JobsStep(policy.keep, jobs_tally, dry_run), jobs_tally),
        Step(
            "outputs",
            policy.output_cutoff(now),
            OutputStep(
                policy.keep, output_tally, dry_run, policy.output_days, policy.job_cutoff(now)
            ),
            output_tally,
        ),
        Step("batches", policy.job_cutoff(now), BatchesStep(batches_tally, dry_run), batches_tally),
        # Another kind of row with an age is one more line, its purge a plain function.
        Step("audit", policy.audit_cutoff(now), purge_audit),
    ]  # fmt: skip


# Told after each batch: the step, and the rows that batch deleted (or would).
Progress = Callable[[Step, int], None]


@dataclass
class Run:
    """One run of every step: the rows each deleted (or would), and how long it took."""

    steps: list[Step]
    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0


async def run_step(
    store: Store,
    step: Step,
    progress: Progress | None = None,
    pause: float = PAUSE_SECONDS,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Run one step batch after batch until it says nothing is left; the rows deleted.
    ``pause`` 0 runs the batches back to back (tests, and measuring the raw cost)."""
    if step.cutoff is None:
        return 0
    total = 0
    while True:
        started = time.perf_counter()
        answer = await step.purge(store, step.cutoff, batch_size)
        busy = time.perf_counter() - started
        batch = answer if isinstance(answer, Batch) else Batch(answer, answer >= batch_size)
        total += batch.deleted
        if progress is not None:
            progress(step, batch.deleted)
        if not batch.more:
            return total
        if pause > 0:
            await asyncio.sleep(min(MAX_PAUSE_SECONDS, max(pause, busy * (1 / BUSY_SHARE - 1))))


async def purge_once(
    store: Store,
    policy: Policy,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    pause: float = PAUSE_SECONDS,
    batch_size: int = BATCH_SIZE,
) -> Run:
    """Every step once, in order (in a dry run, those that can count without deleting)."""
    run = Run(steps(policy, now_ms(), dry_run=dry_run), dry_run)
    started = time.perf_counter()
    for step in run.steps:
        if step.cutoff is None or (dry_run and step.tally is None):
            continue
        run.deleted[step.name] = await run_step(store, step, progress, pause, batch_size)
    run.seconds = time.perf_counter() - started
    return run
