"""A child process watched from any event loop: its exit and its two output pipes.

Why not ``asyncio.create_subprocess_exec``: under uvloop (which ``opsjobs serve`` runs on)
spawning goes through libuv and costs tens of milliseconds per process here, ten times
``subprocess.Popen``; and asyncio's ``Process.wait()`` answers only once the pipes are closed
too, which descendants may hold open for ever. So the process is started by the fork/exec
that ``Popen`` uses (called directly, see ``_FORK_EXEC``), its exit is watched through a
pidfd, and its pipes are read with plain reader callbacks — all of which behave alike on
every loop.
"""

from __future__ import annotations

import _posixsubprocess
import asyncio
import builtins
import contextlib
import errno
import functools
import os
import subprocess
import sys
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

    def __init__(self, popen: Started, loop: asyncio.AbstractEventLoop) -> None:
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


class Started:
    """A started process: its pid, its return code once it has ended (``poll``), and the
    read ends of its stdout and stderr pipes (file descriptors, closed by the caller: see
    Child)."""

    __slots__ = ("_popen", "pid", "returncode", "stderr_fd", "stdout_fd")

    def __init__(
        self, pid: int, stdout_fd: int, stderr_fd: int, popen: subprocess.Popen | None = None
    ) -> None:
        self.pid = pid
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.returncode: int | None = None
        self._popen = popen

    def poll(self) -> int | None:
        """The return code if the process has ended (it is reaped then), else None."""
        if self.returncode is not None:
            return self.returncode
        if self._popen is not None:
            self.returncode = self._popen.poll()
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: 0, as Popen.poll says then
            self.returncode = 0
        else:
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


# The standard library's own fork and exec, called as subprocess.Popen calls it on the
# versions whose call is known (3.11 to 3.13, the same arguments): Popen's Python side
# around it (argument checks, an ExitStack, a lock, its bookkeeping of children) costs as
# much as the call itself, on every run's path. Other versions take Popen.
_FORK_EXEC = (
    _posixsubprocess.fork_exec if sys.version_info[:2] in ((3, 11), (3, 12), (3, 13)) else None
)
# What Popen reads at most of a child's report of why it did not start.
_ERRPIPE_MAX = 50_000


def _child_error(report: bytes, executable: str, cwd: str) -> BaseException:
    """The exception Popen raises for a child's report (``OSError:<hex errno>:<text>``)."""
    name, _, rest = report.partition(b":")
    hex_errno, _, text = rest.partition(b":")
    message = text.decode(errors="surrogatepass")
    kind = getattr(builtins, name.decode("ascii", errors="replace"), None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = subprocess.SubprocessError
    if not (issubclass(kind, OSError) and hex_errno):
        return kind(message)
    number = int(hex_errno, 16)
    text = os.strerror(number) if number else ""
    # Before the exec: the change of directory ("noexec:chdir" from 3.13 on, "noexec"
    # before), or from 3.13 on something else, which names no file.
    if message == "noexec:chdir" or (message == "noexec" and sys.version_info < (3, 13)):
        return kind(number, text, cwd)
    if message == "noexec":
        return kind(number, text)
    return kind(number, text, executable)


def _read_report(fd: int) -> bytes:
    """All the child writes to the error pipe until the exec (or its exit) closes it."""
    report = b""
    while len(report) <= _ERRPIPE_MAX:
        part = os.read(fd, _ERRPIPE_MAX)
        if not part:
            break
        report += part
    return report


@functools.lru_cache(maxsize=256)  # a few commands and PATHs, run again and again
def _executables(name: str, path: str | None) -> tuple[bytes, ...]:
    """Where the child tries to exec ``name``, in order: along ``path`` (the run's own
    PATH) unless it names a directory, as Popen does."""
    executable = os.fsencode(name)
    if os.path.dirname(executable):
        return (executable,)
    directories = os.get_exec_path({} if path is None else {"PATH": path})
    return tuple(os.path.join(os.fsencode(d), executable) for d in directories)


def _fork_exec(argv: list[str], cwd: str, env: dict[str, str], stdout: int, stderr: int) -> int:
    """The pid of ``argv`` started as Popen(argv, stdin=/dev/null, stdout=stdout,
    stderr=stderr, cwd=cwd, env=env, start_new_session=True) starts it, or its OSError."""
    assert _FORK_EXEC is not None
    sys.audit("subprocess.Popen", argv[0], argv, cwd, env)
    executables = _executables(argv[0], env.get("PATH"))
    env_list = []
    for name, value in env.items():
        name_bytes = os.fsencode(name)
        if b"=" in name_bytes:
            raise ValueError("illegal environment variable name")
        env_list.append(name_bytes + b"=" + os.fsencode(value))
    errpipe_read, errpipe_write = os.pipe()
    try:
        try:
            pid = _FORK_EXEC(
                argv, executables, True, (errpipe_write,), cwd, env_list,
                _devnull(), -1, -1, stdout, -1, stderr, errpipe_read, errpipe_write,
                True, True, -1, None, None, None, -1, None, True,
            )  # fmt: skip
        finally:
            os.close(errpipe_write)
        report = _read_report(errpipe_read)
    finally:
        os.close(errpipe_read)
    if report:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise _child_error(report, argv[0], cwd)
    return pid


def _spawn(argv: list[str], cwd: str, env: dict[str, str]) -> Started:
    # Pipes of our own rather than PIPE: Popen would wrap each read end in a buffered file,
    # which nothing here reads through. Both ends are close-on-exec (os.pipe), so no other
    # program this process starts inherits them; this child gets the write ends as its
    # stdout and stderr, and they are closed here once it has them.
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        if _FORK_EXEC is not None:
            return Started(_fork_exec(argv, cwd, env, out_write, err_write), out_read, err_read)
        popen = subprocess.Popen(
            argv,
            stdin=_devnull(),
            stdout=out_write,
            stderr=err_write,
            cwd=cwd,
            env=env,
            start_new_session=True,  # its own process group: signals reach all it starts
        )
        return Started(popen.pid, out_read, err_read, popen)
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        raise
    finally:
        os.close(out_write)
        os.close(err_write)


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
