"""The runner: claims queued jobs and runs up to N of them at once.

It registers itself (store/runners.py), sleeps until woken (an enqueue in this process, a
NOTIFY on PostgreSQL, or the slow poll), claims one job per free slot, beats its own row to
say it is alive (one small write per interval for all of its jobs), reads whether any of its
jobs must stop, and reaps other runners' lost jobs. A finished job's result is kept until it
is stored (finisher.py). Stopping is graceful: no new claims, running jobs get a grace
period to finish, then the rest are stopped and recorded ``cancelled`` — a stopped runner
leaves no job ``running``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import replace

import structlog
from structlog.contextvars import bind_contextvars

from ..config import Settings
from ..domain.clock import now_ms
from ..domain.jobs import JobStatus
from ..domain.outcome import Outcome
from ..domain.sets_state import state_after
from ..domain.spec import MqttSpec, Spec, load_spec, spec_request_id
from ..store.core import Store
from ..store.listen import listen
from ..store.queue import RUNNER_LOST, ClaimedJob, claim_cutoff, claim_many, finish, job_states
from ..store.retry import describe
from ..store.runners import Registration, deregister, record_heartbeat, register
from .control import JobControl
from .finisher import Finisher
from .live import LiveOutput
from .mqtt import publish
from .output import OutputRecorder
from .reaper import end_leftovers, reap_forever
from .script import DRAIN_SECONDS, run_process, script_environment
from .watchdog import Watchdog
from .workdirs import WorkDirs

log = structlog.get_logger("opsjobs.execution")

STOPPED = "runner stopped"


def runner_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


class Runner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        tags: Sequence[str] | None = None,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tags = tuple(settings.runner_tags if tags is None else tags)
        self.concurrency = max(1, concurrency or settings.runner_concurrency)
        self.name = name or runner_name()
        self.registration = Registration(
            self.name, secrets.token_hex(8), socket.gethostname(), os.getpid()
        )
        self._tasks: dict[str, asyncio.Task] = {}
        self._controls: dict[str, JobControl] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._background: list[asyncio.Task] = []
        self._unsubscribe = lambda: None
        self._finisher = Finisher(store, self.name, self._start_jobs, self.tags)
        # Directories made ahead for a few rounds of every slot: the thread that makes and
        # removes them is woken once per half of that, and each wake costs more than the
        # directories it makes (workdirs.py).
        self._workdirs = WorkDirs(settings.work_dir, ready=max(32, 4 * self.concurrency))
        # Kills this runner's runs if the runner dies without stopping (watchdog.py).
        self.watchdog = Watchdog()

    @property
    def running(self) -> set[str]:
        return set(self._tasks)

    async def start(self) -> None:
        # Jobs still running under this name are an earlier process's (same pid): lost.
        # Then the processes of lost jobs left on this host are ended, before any claim.
        earlier = await register(self.store, self.registration)
        if earlier:
            log.warning("jobs of an earlier runner of this name marked lost", job_ids=earlier)
        await end_leftovers(self.store)
        self.watchdog.start()
        self._unsubscribe = self.store.job_signals.on_cancel(self._on_cancel)
        self._finisher.start()
        loops = [
            self._claim_loop(),
            self._heartbeat_loop(),
            reap_forever(
                self.store, self.settings.lost_after_seconds, self.name, self._controls.keys
            ),
        ]
        if not self.store.is_sqlite:
            ready = asyncio.Event()
            loops.append(listen(self.store, ready))
        self._background = [asyncio.create_task(loop) for loop in loops]
        if not self.store.is_sqlite:
            # Do not miss a NOTIFY sent right after start; the poll would catch it, slowly.
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow a cancel
                async with asyncio.timeout(5):
                    await ready.wait()
        log.info("runner started", runner=self.name, tags=self.tags, slots=self.concurrency)

    def stop_job(self, job_id: str, reason: str, status: JobStatus = JobStatus.CANCELLED) -> bool:
        control = self._controls.get(job_id)
        if control is None:
            return False
        control.stop(reason, status)
        return True

    def _on_cancel(self, job_id: str) -> None:
        self.stop_job(job_id, "cancelled")

    # -- claiming ---------------------------------------------------------------------------

    async def _sleep_until_woken(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # no task of its own, unlike wait_for
                await self.store.jobs_queued.wait()

    async def _claim_loop(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._tasks)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            # Cleared before looking: a job queued from now on sets it again.
            self.store.jobs_queued.clear()
            try:
                claimed = await claim_many(self.store, self.name, self.tags, free)
            except Exception as exc:
                log.warning("claiming jobs failed", error=describe(exc))
                await asyncio.sleep(1.0)
                continue
            if not claimed:
                await self._sleep_until_woken(self.settings.runner_poll_seconds)
            self._start_jobs(claimed)

    def _start_jobs(self, claimed: list[ClaimedJob]) -> None:
        """Run jobs claimed by the claim loop, or by the finisher with the ends that freed
        their slots (finisher.py); not those whose claim's answer came too late."""
        late = self._answered_late(claimed)
        for job in claimed:
            if job.id in late:
                continue
            # The control exists before the task runs: a cancel can never fall between.
            control = self._controls[job.id] = JobControl()
            self._tasks[job.id] = asyncio.create_task(self._run_job(job, control))

    def _answered_late(self, claimed: list[ClaimedJob]) -> set[str]:
        """The jobs whose claim was written longer ago than ``lost_after_seconds``: this
        runner's reaper may have judged them lost already (a claim it does not run,
        lost_candidates), so running one would run a job whose history says it never ran.
        None is started; the reaper marks each lost. A job started here was claimed less
        than the limit ago, so a reaper that did not see it running cannot have judged it:
        the reaper asks which jobs run only after it reads the claims older than the limit.
        """
        limit = claim_cutoff(self.settings.lost_after_seconds, now_ms())
        late = {job.id for job in claimed if job.claimed_at is not None and job.claimed_at < limit}
        if late:
            log.warning(
                "claims answered after the limit for lost jobs: not started, left to be "
                "marked lost",
                job_ids=sorted(late),
                lost_after_seconds=self.settings.lost_after_seconds,
            )
        return late

    # -- running ----------------------------------------------------------------------------

    async def _execute(self, job: ClaimedJob, control: JobControl) -> Outcome:
        if job.spec is None:
            return Outcome(JobStatus.FAILED, {}, "the job has no spec: nothing to run")
        try:
            spec = load_spec(job.spec)
        except (ValueError, KeyError, TypeError) as exc:
            return Outcome(JobStatus.FAILED, {}, f"the job's spec is not valid: {exc!r}")
        outcome = await self._run_spec(job, spec, control)
        if spec.sets_state is None:
            return outcome
        return replace(
            outcome, sets_state=state_after(spec.sets_state, outcome.status, outcome.description)
        )

    async def _run_spec(self, job: ClaimedJob, spec: Spec, control: JobControl) -> Outcome:
        if isinstance(spec, MqttSpec):
            return await publish(
                spec, self.settings.mqtt_url, control, self.settings.mqtt_connect_timeout_seconds
            )
        recorder = OutputRecorder(self.settings.output_cap_bytes)
        live = LiveOutput(self.store, job.id, recorder)
        try:
            outcome = await run_process(
                spec,
                script_environment(job),
                control,
                recorder,
                live.on_output,
                self.settings.kill_grace_seconds,
                self._workdirs,
                self.watchdog,
            )
        except BaseException:
            live.abort()
            raise
        chunks = await live.close()
        # Most runs have no output left to store: no copy of the outcome for them.
        return replace(outcome, chunks=chunks) if chunks else outcome

    async def _finish(self, job_id: str, outcome: Outcome) -> None:
        """Store the outcome; returns only once it is stored (finisher.py retries), so the
        job stays this runner's, kept alive by its heartbeat, until then."""
        await self._finisher.record(job_id, outcome)

    async def _run_job(self, job: ClaimedJob, control: JobControl) -> None:
        # This task's own logging context: every line about the job names it, and the
        # request that made it.
        bind_contextvars(job_id=job.id, request_id=spec_request_id(job.spec))
        log.info("job started", runner=self.name)
        try:
            try:
                outcome = await self._execute(job, control)
            except Exception as exc:
                log.exception("running a job failed")
                outcome = Outcome(JobStatus.FAILED, {}, f"runner error: {exc!r}")
            await self._finish(job.id, outcome)
            log.info("job finished", status=outcome.status.value)
        finally:
            self._controls.pop(job.id, None)
            self._tasks.pop(job.id, None)
            self._slot_freed.set()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await record_heartbeat(self.store, self.registration)
            except Exception as exc:  # its jobs are still checked below
                log.warning("runner heartbeat failed", error=describe(exc))
            try:
                report = await job_states(self.store, self.name, list(self._controls))
            except Exception as exc:
                log.warning("reading the state of running jobs failed", error=describe(exc))
                continue
            for job_id in report.cancel_requested:
                self.stop_job(job_id, "cancelled")
            for job_id in report.gone:
                # Marked lost while we were silent: "lost" promises its processes end. (One
                # that already ended keeps its outcome: the finish records it after all.)
                self.stop_job(job_id, RUNNER_LOST, JobStatus.LOST)

    # -- stopping ---------------------------------------------------------------------------

    async def _end_running_jobs(self, grace: float) -> set[asyncio.Task]:
        """Let running jobs finish within ``grace`` s, then stop them; the tasks of those
        that still have not ended after the kill grace."""
        tasks = set(self._tasks.values())
        if tasks:
            log.info("runner stopping: waiting for running jobs", count=len(tasks), grace=grace)
            _, tasks = await asyncio.wait(tasks, timeout=grace)
        if tasks:
            for job_id in list(self._controls):
                self.stop_job(job_id, STOPPED)
            limit = self.settings.kill_grace_seconds + 2 * DRAIN_SECONDS + 5
            _, tasks = await asyncio.wait(tasks, timeout=limit)
        return tasks

    async def _tear_down(self, tasks: set[asyncio.Task]) -> None:
        """Jobs stuck beyond reason: cancel their tasks and record them cancelled ourselves."""
        for task in tasks:
            task.cancel()
        holding = self._finisher.unrecorded
        stuck = [job_id for job_id in self._controls if job_id not in holding]
        if tasks:
            await asyncio.wait(tasks)
        for job_id in stuck:
            with contextlib.suppress(Exception):
                outcome = Outcome(JobStatus.CANCELLED, {}, STOPPED)
                await finish(self.store, self.name, job_id, outcome)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running jobs finish within ``grace`` s, then cancel the rest."""
        grace = self.settings.stop_grace_seconds if grace is None else grace
        self._stopping = True
        self._slot_freed.set()
        self.store.jobs_queued.set()
        claim_loop, *others = self._background or [None]
        if claim_loop is not None:
            await asyncio.wait({claim_loop})
        await self._finisher.stop_claiming()
        unfinished = await self._end_running_jobs(grace)
        await self._tear_down(unfinished)
        # Results still unwritten (the database refuses writes) get one more grace period.
        unrecorded = await self._finisher.close(patience=grace)
        for job_id, outcome in unrecorded.items():  # never stored: the log is the last trace
            log.error(
                "runner stopped without recording a finished job",
                job_id=job_id,
                status=outcome.status.value,
                error=outcome.error,
            )
        await asyncio.to_thread(self._workdirs.close)
        await asyncio.to_thread(self.watchdog.close)
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others)
        self._unsubscribe()
        if not unrecorded:  # else its row goes stale, and those jobs are judged lost
            try:
                await deregister(self.store, self.registration)
            except Exception as exc:
                log.warning("removing the runner's row failed", error=describe(exc))
        log.info("runner stopped", runner=self.name)
