"""A child process watched from any event loop: its exit and its two output pipes.

Why not ``asyncio.create_subprocess_exec``: under uvloop (which ``opsjobs serve`` runs on)
spawning goes through libuv and costs tens of milliseconds per process here, ten times
``subprocess.Popen``; and asyncio's ``Process.wait()`` answers only once the pipes are closed
too, which descendants may hold open for ever. So the process is started by ``Popen`` (the
same fork/exec the standard library always uses), its exit is watched through a pidfd, and
its pipes are read with plain reader callbacks — all of which behave alike on every loop.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import subprocess
import time
from collections.abc import Callable

READ_SIZE = 64 * 1024
# Without pidfds (Linux before 5.3), how often the exit is looked for.
EXIT_POLL_SECONDS = 0.05


class ExitWatch:
    """A future set to the return code when the process ends; the process is reaped then.

    It keeps watching even when nobody awaits it any more, so a run torn down halfway still
    reaps its process instead of leaving a zombie.
    """

    def __init__(self, popen: subprocess.Popen, loop: asyncio.AbstractEventLoop) -> None:
        self.popen = popen
        self.loop = loop
        self.future: asyncio.Future[int] = loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            loop.call_later(EXIT_POLL_SECONDS, self._poll)
        else:
            loop.add_reader(self._pidfd, self._check)

    def _check(self) -> None:
        if self.popen.poll() is None:
            return
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self.future.done():
            self.future.set_result(self.popen.returncode)

    def _poll(self) -> None:
        self._check()
        if self.popen.returncode is None:
            self.loop.call_later(EXIT_POLL_SECONDS, self._poll)


class PipeReader:
    """Hands each piece read from a pipe (its read end, ``fd``, which it closes at the end)
    to ``feed`` as it arrives; ``done`` at end of file."""

    def __init__(self, fd: int, feed: Callable[[bytes], None], loop: asyncio.AbstractEventLoop):
        self.fd = fd
        self.closed = False
        self.feed = feed
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.feed(data)
        else:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
        if not self.done.done():
            self.done.set_result(None)


@functools.cache
def _devnull() -> int:
    """One /dev/null for every run's stdin, rather than an open and a close per run."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


class Started(subprocess.Popen):
    """A started process and the read ends of its stdout and stderr pipes (file
    descriptors, closed by the caller: see Child)."""

    stdout_fd: int
    stderr_fd: int


def _spawn(argv: list[str], cwd: str, env: dict[str, str]) -> Started:
    # Pipes of our own rather than PIPE: Popen would wrap each read end in a buffered file,
    # which nothing here reads through, and close the write ends through an ExitStack: a
    # good part of its Python side. Both ends are close-on-exec (os.pipe), so no other
    # program this process starts inherits them; this child gets the write ends as its
    # stdout and stderr, and they are closed here once it has them.
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        popen = Started(
            argv,
            stdin=_devnull(),
            stdout=out_write,
            stderr=err_write,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: signals reach all it starts
        )
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        raise
    finally:
        os.close(out_write)
        os.close(err_write)
    popen.stdout_fd, popen.stderr_fd = out_read, err_read
    return popen


def start_process(argv: list[str], cwd: str, env: dict[str, str]) -> Started:
    """Start ``argv`` in a new session with piped output; OSError if it cannot start.

    Plain blocking code, called on the event loop (a vfork: the loop waits only until the
    child has exec'd). A process forked meanwhile by another thread of this process may
    briefly hold a script file that is still being written, which makes exec fail with
    "text file busy" (a race of every multithreaded program that writes and runs files):
    that is retried.
    """
    for attempt in range(5):
        try:
            return _spawn(argv, cwd, env)
        except OSError as exc:
            if exc.errno != errno.ETXTBSY or attempt == 4:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class Child:
    """A started process, its exit and its stdout and stderr watched from the running loop."""

    def __init__(
        self,
        popen: Started,
        on_stdout: Callable[[bytes], None],
        on_stderr: Callable[[bytes], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.popen = popen
        self.pid = popen.pid
        self.exit = ExitWatch(popen, loop)
        self.readers = [
            PipeReader(popen.stdout_fd, on_stdout, loop),
            PipeReader(popen.stderr_fd, on_stderr, loop),
        ]

    @property
    def exited(self) -> asyncio.Future[int]:
        return self.exit.future

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def close_pipes(self) -> None:
        for reader in self.readers:
            reader.close()
