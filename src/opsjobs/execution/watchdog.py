"""Processes die with their runner: a small watchdog process per runner.

A runner killed outright (``kill -9``, the OOM killer) runs no code of its own, and its
jobs' processes live in sessions of their own (script.py), so nothing would stop them. So
each runner starts one watchdog (``python -m opsjobs.execution.watchdog``), in a session of
its own too, and tells it through a pipe the process group of every run it starts
(``+PGID``) and ends (``-PGID``). When the runner's end of the pipe closes — however the
runner died — the watchdog kills the groups still listed, and exits. A graceful stop
closes the pipe with nothing listed.

A run's group is known only once its process exists, and by then the run may be going: the
runner could die between the two, and the run would outlive it. So before it starts a run,
the runner names its job (``?JOB_ID``), and names it again once the run is over
(``!JOB_ID``). At the runner's end the watchdog also ends every process of a job still
named, found by the ``OPSJOBS_JOB_ID`` every run carries (leftovers.py): a run is protected
from before its process exists.

Telling costs a few bytes written to a pipe per run (no fork, no database write), which the
watchdog reads in batches (``GATHER_SECONDS``). If the
watchdog itself is killed, the runner starts another and lists its runs again; if both die
at once, the runs are ended by the reaper or the next runner on this host (leftovers.py).

A group leaves the list when its run ends; members that outlive it and let go of the output
pipes were detached on purpose (script.py) and are left alone. While a run is listed its
group ID cannot be handed to anyone else: the kernel never reuses a pid still in use as a
process group ID, and the run's leader is reaped only moments before it leaves the list.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import time

import structlog

from .leftovers import end_processes, marked_processes

log = structlog.get_logger("opsjobs.execution")

# Room for 100,000 messages or so: the runner never waits for a busy watchdog.
PIPE_BYTES = 1 << 20
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


# The job IDs the watchdog is told: what cannot break a line of the protocol. (Job IDs are
# 24 hexadecimal digits; an ID of any other shape is not named, and its run is protected
# from the moment its group is told, as before.)
_JOB_ID = re.compile(rb"[0-9A-Za-z_-]{1,64}")


class Watchdog:
    """The runner's side: ``expect`` / ``forget`` each run's job, ``watch`` / ``unwatch``
    its process group."""

    def __init__(self) -> None:
        self.groups: set[int] = set()
        self.jobs: set[bytes] = set()
        self._process: subprocess.Popen | None = None
        self._unsent = b""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "opsjobs.execution.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the runner's group does not reach it
        )
        fd = self._process.stdin.fileno()
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        os.set_blocking(fd, False)
        self._unsent = b"".join(b"?%s\n" % job for job in self.jobs) + b"".join(
            b"+%d\n" % group for group in self.groups
        )
        self._flush()

    def expect(self, job_id: str) -> None:
        """A run of ``job_id`` is about to start: should the runner die from now on, its
        processes are ended, even before ``watch`` names their group."""
        job = job_id.encode("ascii", "replace")
        if _JOB_ID.fullmatch(job):
            self.jobs.add(job)
            self._send(b"?%s\n" % job)

    def forget(self, job_id: str) -> None:
        """The run of ``job_id`` is over (after ``unwatch`` of its group)."""
        job = job_id.encode("ascii", "replace")
        if job in self.jobs:
            self.jobs.discard(job)
            self._send(b"!%s\n" % job)

    def watch(self, group: int) -> None:
        self.groups.add(group)
        self._send(b"+%d\n" % group)

    def unwatch(self, group: int) -> None:
        self.groups.discard(group)
        self._send(b"-%d\n" % group)

    def _send(self, message: bytes) -> None:
        self._unsent += message
        self._flush()

    def _flush(self) -> None:
        if self._process is None:
            return
        try:
            while self._unsent:
                written = os.write(self._process.stdin.fileno(), self._unsent)
                self._unsent = self._unsent[written:]
        except BlockingIOError:
            pass  # the pipe is full: the rest goes with the next message
        except OSError:  # the watchdog died: a new one gets the whole list
            log.warning("the runner's watchdog ended; starting another")
            self._discard()
            try:
                self.start()
            except OSError as exc:  # the runs are left to the reaper (leftovers.py)
                log.error("cannot start the runner's watchdog", error=str(exc))
                self._process = None

    def _discard(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=1)
            self._process = None

    def close(self) -> None:
        """A graceful end: the watchdog exits without killing anything still listed
        (the runner has ended its runs itself)."""
        self.groups.clear()
        self.jobs.clear()
        self._unsent = b""
        if self._process is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(self._process.stdin.fileno(), True)
                self._process.stdin.write(b"=\n")  # "let go": nothing to kill
                self._process.stdin.flush()
        self._discard()


# How long the watchdog lets messages gather between reads: it wakes a few dozen times a
# second at most rather than twice per run (a wake of a process costs more than the few
# bytes it reads). The runner never waits for it (the pipe holds far more than that), and
# on the runner's end it reads everything still in the pipe before it kills: a run's group
# is protected from the moment its message is written, as before; only the kill comes up
# to this much later.
GATHER_SECONDS = 0.025


# A run the runner had just started when it died may still be between its fork and its exec
# (its environment not yet its own) at the first look: the watchdog looks once more after this.
SECOND_LOOK_SECONDS = 0.1


def _apply(lines: list[bytes], groups: set[int], jobs: set[str]) -> bool:
    """Apply whole lines to ``groups`` and ``jobs``; True at "=" (let go: nothing to kill)."""
    for line in lines:
        kind, rest = line[:1], line[1:]
        if kind == b"=":
            groups.clear()
            jobs.clear()
            return True
        if kind in (b"?", b"!"):
            if _JOB_ID.fullmatch(rest):
                (jobs.add if kind == b"?" else jobs.discard)(rest.decode("ascii"))
            continue
        with contextlib.suppress(ValueError):
            group = int(rest)
            if group > 1:
                (groups.add if kind == b"+" else groups.discard)(group)
    return False


def _end_jobs(jobs: set[str]) -> None:
    """End the processes of these jobs on this host, found by their environment."""
    found = {pid: job for job, pids in marked_processes().items() if job in jobs for pid in pids}
    if found:
        end_processes(list(found), found)


def main() -> None:
    """The watchdog's side: keep the list until the pipe closes, then kill what is on it."""
    groups: set[int] = set()
    jobs: set[str] = set()
    fd = sys.stdin.buffer.fileno()
    partial = b""
    while True:
        data = os.read(fd, PIPE_BYTES)
        if not data:  # the runner's end is closed, however it ended
            _apply([partial] if partial else [], groups, jobs)
            break
        lines = (partial + data).split(b"\n")
        partial = lines.pop()  # the end of the data: a line not yet whole, or b""
        if _apply(lines, groups, jobs):
            break
        time.sleep(GATHER_SECONDS)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    if jobs:  # runs named, perhaps started, and perhaps not yet listed by their group
        _end_jobs(jobs)
        time.sleep(SECOND_LOOK_SECONDS)
        _end_jobs(jobs)


if __name__ == "__main__":
    main()
