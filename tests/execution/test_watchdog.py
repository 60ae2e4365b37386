"""The watchdog (execution/watchdog.py) protects a run from before its process exists: a
runner killed between starting a run and naming its process group does not leave the run
going. Real processes: a stand-in runner that uses ``Watchdog`` as the runner does, killed
with SIGKILL; its runs are ``sleep`` processes in sessions of their own, carrying their
job's ``OPSJOBS_JOB_ID`` as every run does."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from opsjobs.execution.watchdog import _apply

# The stand-in runner: starts its watchdog, does what its argument says, prints the run's
# pid and the watchdog's, and waits to be killed.
RUNNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from opsjobs.execution.watchdog import Watchdog

    steps, job_id = sys.argv[1].split(","), sys.argv[2]
    watchdog = Watchdog()
    watchdog.start()
    if "expect" in steps:
        watchdog.expect(job_id)
    run = subprocess.Popen(
        ["sleep", "30"], env={"OPSJOBS_JOB_ID": job_id, "PATH": os.environ["PATH"]},
        start_new_session=True,
    )
    if "watch" in steps:
        watchdog.watch(run.pid)
    if "over" in steps:  # the run's group leaves the list and its job is forgotten
        watchdog.unwatch(run.pid)
        watchdog.forget(job_id)
    print(run.pid, watchdog.pid, flush=True)
    time.sleep(60)
    """
)
JOB = "6b1511ae1639f1583e2fbec7"


@contextlib.contextmanager
def runner_with_run(steps: str, job_id: str = JOB):
    """The stand-in runner, its run's process and its watchdog; all gone afterwards."""
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, steps, job_id], stdout=subprocess.PIPE, text=True
    )
    started: list[psutil.Process] = []
    try:
        started = [psutil.Process(int(pid)) for pid in runner.stdout.readline().split()]
        run, watchdog = started
        yield Killable(runner, watchdog), run
    finally:
        runner.kill()
        runner.wait()
        for process in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


@dataclasses.dataclass
class Killable:
    runner: subprocess.Popen
    watchdog: psutil.Process


def _killed(runner: Killable) -> None:
    """SIGKILL the runner, and wait until its watchdog has done all it does and exited:
    what is still alive then was left alive, however slow the machine."""
    runner.runner.send_signal(signal.SIGKILL)
    runner.runner.wait()
    assert _gone(runner.watchdog, timeout=60), "the watchdog did not end after its runner"


def _gone(run: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if run.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="runs are found through /proc")
def test_a_run_named_but_not_yet_watched_dies_with_its_runner():
    with runner_with_run("expect") as (runner, run):
        _killed(runner)
        assert _gone(run, timeout=5), "the run outlived its runner"


def test_a_watched_run_dies_with_its_runner():
    with runner_with_run("expect,watch") as (runner, run):
        _killed(runner)
        assert _gone(run, timeout=5), "the run outlived its runner"


def test_what_a_run_left_behind_once_it_was_over_is_left_alone():
    # A run's descendants that outlive it were detached on purpose (script.py).
    with runner_with_run("expect,watch,over") as (runner, run):
        _killed(runner)
        assert not _gone(run, timeout=1), "a process of a run that was over was killed"


def test_an_id_that_could_break_the_protocol_is_not_sent():
    # The run is then protected from the moment its group is named, as before.
    with runner_with_run("expect,watch", "a\n+1") as (runner, run):
        _killed(runner)
        assert _gone(run, timeout=5), "the run outlived its runner"


def test_the_watchdog_reads_names_groups_and_garbage():
    groups: set[int] = set()
    jobs: set[str] = set()
    lines = [b"?job-1", b"+1234", b"?job-2", b"!job-2", b"-99", b"?bad id", b"+x", b"+1", b"!"]
    assert _apply(lines, groups, jobs) is False
    assert (groups, jobs) == ({1234}, {"job-1"})
    assert _apply([b"=", b"+5"], groups, jobs) is True
    assert (groups, jobs) == (set(), set())
