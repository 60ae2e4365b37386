"""The script executor: an ``exec`` or ``script`` spec run as a process group of its own.

Each run gets a fresh working directory, a minimal environment and a new session, so its
process group holds the script and everything it starts. A timeout or a stop request ends
the whole group: SIGTERM, and SIGKILL for whatever is left after a grace period. When the
main process ends by itself, descendants that still hold the output pipes are killed after
a short drain (the run could not end otherwise); ones that let go of them (``nohup cmd
>/dev/null 2>&1 &``) detached on purpose and are left alone.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Callable
from typing import Any

from ..domain.jobs import JobStatus
from ..domain.outcome import Outcome
from ..domain.spec import ExecSpec, ScriptSpec
from ..store.queue import ClaimedJob
from .control import JobControl
from .output import OutputRecorder, StreamRecorder
from .process import Child, Started, start_process
from .watchdog import Watchdog
from .workdirs import WorkDirs

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# After the main process ends, how long its descendants may keep the pipes open before the
# group is killed so the run can end.
DRAIN_SECONDS = 1.0
SCRIPT_NAME = ".opsjobs-script"


def script_environment(job: ClaimedJob) -> dict[str, str]:
    """PATH, LANG and the job's identity; nothing of the server's own environment (which may
    hold database passwords) leaks into a script."""
    return {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "LANG": os.environ.get("LANG") or "C.UTF-8",
        "OPSJOBS_JOB_ID": job.id,
        "OPSJOBS_OWNER_ID": job.owner_id,
        "OPSJOBS_OPERATION_ID": job.operation_id or "",
    }


def exit_code(returncode: int) -> int:
    """The shell's convention: a process ended by signal N reports 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def _write_script(workdir: str, text: str) -> list[str]:
    path = os.path.join(workdir, SCRIPT_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    # With a #! line the kernel runs the named interpreter; without, it is a shell script.
    return [path] if text.startswith("#!") else ["/bin/sh", path]


def _not_started(spec: ExecSpec | ScriptSpec, argv: list[str], exc: OSError | None) -> Outcome:
    if isinstance(spec, ScriptSpec):
        what = "the script's interpreter " + (spec.text.splitlines() or [""])[0]
    else:
        what = argv[0] if argv else "an empty command"
    reason = exc.strerror if exc is not None else "nothing to run"
    code = 126 if isinstance(exc, PermissionError) else 127
    description = {"stdout": "", "exitCode": code, "stderr": ""}
    return Outcome(JobStatus.FAILED, description, f"cannot run {what}: {reason}")


def _feeder(into: StreamRecorder, on_output: Callable[[], None]) -> Callable[[bytes], None]:
    def feed(data: bytes) -> None:
        into.feed(data)
        on_output()

    return feed


async def _wait(exited: asyncio.Future, timeout: float | None, control: JobControl) -> str | None:
    """None when the process ended by itself, else "timeout" or "stopped".

    What ``asyncio.wait(..., return_when=FIRST_COMPLETED)`` does, without its sets, its
    counting callback and its checks: this wait is on every run's path."""
    stop = control.stop_requested
    if not (exited.done() or stop.done()):
        woken = asyncio.get_running_loop().create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        exited.add_done_callback(wake)
        stop.add_done_callback(wake)
        timer = woken.get_loop().call_later(timeout, wake) if timeout is not None else None
        try:
            await woken
        finally:
            if timer is not None:
                timer.cancel()
            exited.remove_done_callback(wake)
            stop.remove_done_callback(wake)
    if exited.done():
        return None
    return "stopped" if control.stop_requested.done() else "timeout"


async def _terminate(pgid: int, exited: asyncio.Future, grace: float) -> None:
    _kill_group(pgid, signal.SIGTERM)
    await asyncio.wait({exited}, timeout=grace)
    # Members that outlived the main process or ignored SIGTERM; while any is alive the
    # group ID cannot be reused, so this reaches only the run's own processes.
    _kill_group(pgid, signal.SIGKILL)
    await exited


async def _drain(child: Child) -> None:
    pending = {reader.done for reader in child.readers if not reader.done.done()}
    if pending:  # most runs have closed their output by the time their exit is seen
        _, pending = await asyncio.wait(pending, timeout=DRAIN_SECONDS)
    if pending:
        _kill_group(child.pid, signal.SIGKILL)
        await asyncio.wait(pending, timeout=DRAIN_SECONDS)
    # Anything still open is held by a process outside the group: stop reading it.
    child.close_pipes()


def _ended(
    returncode: int, ending: str | None, spec, control: JobControl, recorder: OutputRecorder
) -> Outcome:
    code = exit_code(returncode)
    stdout, stderr = recorder.texts()
    description: dict[str, Any] = {"stdout": stdout, "exitCode": code, "stderr": stderr}
    if ending == "timeout":
        status, error = JobStatus.TIMEOUT, f"timed out after {spec.timeout:g} s"
    elif ending == "stopped":
        status, error = control.status, control.reason
    elif code == 0:
        status, error = JobStatus.SUCCEEDED, None
    elif returncode < 0:
        name = signal.Signals(-returncode).name
        status, error = JobStatus.FAILED, f"killed by signal {-returncode} ({name})"
    else:
        status, error = JobStatus.FAILED, f"exited with code {code}"
    return Outcome(status, description, error, recorder.truncated)


@functools.cache
def _shared_workdirs() -> WorkDirs:
    return WorkDirs()


def _start(
    spec: ExecSpec | ScriptSpec, env: dict[str, str], workdirs: WorkDirs
) -> tuple[str, list[str], Started | OSError | None]:
    """Working directory, argv and the started process (or why not).

    Done on the event loop, as asyncio's own subprocess support does: the fork is a vfork
    and the directory was made ahead, so this takes a fraction of a millisecond, less than
    a hop to a worker thread and back (and its contention for the GIL) would cost."""
    workdir = workdirs.take()
    if isinstance(spec, ScriptSpec) and spec.env:
        # The values of the script's template variables. Their names are generated
        # (OPSJOBS_V1, OPSJOBS_ARG_x), and the run's own environment wins all the same.
        env = {**spec.env, **env}
    argv = list(spec.argv) if isinstance(spec, ExecSpec) else _write_script(workdir, spec.text)
    if not argv:
        return workdir, argv, None
    try:
        return workdir, argv, start_process(argv, workdir, env)
    except OSError as exc:
        return workdir, argv, exc


async def run_process(
    spec: ExecSpec | ScriptSpec,
    env: dict[str, str],
    control: JobControl,
    recorder: OutputRecorder,
    on_output: Callable[[], None] = lambda: None,
    kill_grace: float = 2.0,
    workdirs: WorkDirs | None = None,
    watchdog: Watchdog | None = None,
) -> Outcome:
    """Run the spec to its end; output goes into ``recorder`` (``on_output`` after each piece).
    The working directory comes from ``workdirs`` (a runner's own), else from one shared
    by every caller without one, in the system's temporary directory. ``watchdog``: the
    runner's, told of the run's job from before its process starts, and of its process
    group, for as long as the run lasts."""
    workdirs = workdirs or _shared_workdirs()
    # Named to the watchdog before the process exists: the runner may die at any moment.
    job_id = env.get("OPSJOBS_JOB_ID", "") if watchdog is not None else ""
    if job_id:
        watchdog.expect(job_id)
    try:
        return await _run(spec, env, control, recorder, on_output, kill_grace, workdirs, watchdog)
    finally:
        if job_id:
            watchdog.forget(job_id)


async def _run(
    spec: ExecSpec | ScriptSpec,
    env: dict[str, str],
    control: JobControl,
    recorder: OutputRecorder,
    on_output: Callable[[], None],
    kill_grace: float,
    workdirs: WorkDirs,
    watchdog: Watchdog | None,
) -> Outcome:
    workdir, argv, started = _start(spec, env, workdirs)
    try:
        if not isinstance(started, Started):
            return _not_started(spec, argv, started)
        child = Child(
            started, _feeder(recorder.stdout, on_output), _feeder(recorder.stderr, on_output)
        )
        if watchdog is not None:
            watchdog.watch(child.pid)
        completed = False
        try:
            timeout = spec.timeout if spec.timeout and spec.timeout > 0 else None
            ending = await _wait(child.exited, timeout, control)
            if ending is not None:
                await _terminate(child.pid, child.exited, kill_grace)
            await _drain(child)
            completed = True
        finally:
            if not completed:  # this task was cancelled or failed: the run must not survive
                _kill_group(child.pid, signal.SIGKILL)
                child.close_pipes()
            if watchdog is not None:
                watchdog.unwatch(child.pid)
        return _ended(child.returncode, ending, spec, control, recorder)
    finally:
        workdirs.give_back(workdir)
