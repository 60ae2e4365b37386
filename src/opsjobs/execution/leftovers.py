"""Finding and ending the processes of jobs that are no longer anyone's, on this host.

Every script runs with ``OPSJOBS_JOB_ID`` in its environment (script.py), in a process group
of its own, and its children inherit both. So the processes of a job whose runner died can
be found by reading ``/proc/<pid>/environ``, and ended with their whole group, without
recording anything per job in the database (no write on the hot path). Only processes of
our own user can be read and signalled: exactly those a runner of that user started.

What is left to a script: a child that clears its environment *and* leaves the job's
process group (``setsid env -i …``) cannot be told from any other process, and is not ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

PROC = "/proc"
MARKER = b"OPSJOBS_JOB_ID="
# How long end_processes waits for the killed processes to be gone.
GONE_WAIT_SECONDS = 2.0


def _environ_job(pid: str) -> str | None:
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as file:
            environ = file.read()
    except OSError:  # gone, or another user's
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(MARKER):
            return entry[len(MARKER) :].decode("ascii", "replace")
    return None


def marked_processes() -> dict[str, list[int]]:
    """The processes of this host that belong to a job: job ID → pids."""
    found: dict[str, list[int]] = {}
    try:
        names = os.listdir(PROC)
    except OSError:  # not Linux: nothing can be found this way
        return found
    me = os.getpid()
    for name in names:
        if name.isdigit() and int(name) != me:
            job_id = _environ_job(name)
            if job_id:
                found.setdefault(job_id, []).append(int(name))
    return found


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` from its state on (state, ppid, pgrp, ...), or
    None when the process is gone."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold anything, so split after its ")".
    return stat[stat.rindex(b")") + 2 :].split()


def _group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[2])


def _gone(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] == b"Z"  # a zombie runs nothing


def _boot_ms() -> int | None:
    try:
        with open(f"{PROC}/stat", "rb") as file:
            for line in file:
                if line.startswith(b"btime "):
                    return int(line.split()[1]) * 1000
    except OSError:
        pass
    return None


def alive_since(pid: int, before_ms: int) -> bool:
    """Whether process ``pid`` of this host is alive and started before ``before_ms`` (ms
    since the epoch): the very process that registered then, not one that got its pid
    later. (The 2 s allow for the boot time's whole seconds.)"""
    boot = _boot_ms()
    fields = _stat_fields(pid)
    if fields is None or boot is None or fields[0] == b"Z":
        return False
    started = boot + int(fields[19]) * 1000 // os.sysconf("SC_CLK_TCK")
    return started <= before_ms + 2000


def end_processes(pids: list[int], job_of: dict[int, str]) -> list[int]:
    """SIGKILL each of these processes and its process group; answers the pids ended.

    Each is held by a pidfd and checked to carry its job's marker still before it is
    signalled, so a pid reused in the meantime is never hit; a group whose member we hold
    cannot have been reused either."""
    ended = []
    own_group = os.getpgrp()
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue  # already gone
        try:
            if _environ_job(str(pid)) != job_of[pid]:
                continue
            group = _group(pid)
            if group is not None and group not in (0, 1, own_group):
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            ended.append(pid)
        finally:
            os.close(pidfd)
    deadline = time.monotonic() + GONE_WAIT_SECONDS
    while time.monotonic() < deadline and not all(_gone(pid) for pid in ended):
        time.sleep(0.01)
    return ended
