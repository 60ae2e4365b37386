"""The HTTP server's I/O threads yield the core to the event loop (api/threads.py)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from opsjobs.api.threads import IO_THREAD_NICE, yield_io_threads

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="threads found in /proc")


def _named_thread(name: str) -> tuple[threading.Thread, threading.Event, list[int]]:
    """A thread that names itself in /proc (as Rust runtimes do) and waits to be let go."""
    done, tids, named = threading.Event(), [], threading.Event()

    def body() -> None:
        tids.append(threading.get_native_id())
        with open("/proc/thread-self/comm", "w") as comm:
            comm.write(name)
        named.set()
        done.wait()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    named.wait(5)
    return thread, done, tids


def test_io_threads_get_the_lowest_priority_and_nothing_else_does():
    io_thread, io_done, (io_tid,) = _named_thread("tokio-rt-worker")
    other, other_done, (other_tid,) = _named_thread("opsjobs-other")
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    try:
        assert yield_io_threads() >= 1
        assert os.getpriority(os.PRIO_PROCESS, io_tid) == IO_THREAD_NICE
        assert os.getpriority(os.PRIO_PROCESS, other_tid) == before
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    finally:
        io_done.set()
        other_done.set()
        io_thread.join()
        other.join()
