"""`opsjobs remote exec --follow` and `tail` as a person runs them: output printed as the job
writes it, the job's exit code passed on, Ctrl-C asking whether to cancel."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time

import log_secrets
from helpers import opsjobs_exe
from helpers.remote import RemoteServer

WAIT = 60.0


class Running:
    """A remote command in progress, its stdout read line by line and its stderr as it
    comes (a question ends without a newline)."""

    def __init__(self, server: RemoteServer, *args: str) -> None:
        self.process = subprocess.Popen(
            [opsjobs_exe(), "remote", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server.env(),
            text=True,
            bufsize=1,
            # Ctrl-C as a person's terminal sends it: a test run started in the background by
            # a shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr = ""
        self.readers = [
            threading.Thread(target=self._read_lines, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_lines(self) -> None:
        for line in self.process.stdout:
            self.stdout.append(line)
            self.lines.put(line)

    def _read_errors(self) -> None:
        while chunk := self.process.stderr.read(1):
            self.stderr += chunk

    def next_line(self) -> str:
        return self.lines.get(timeout=WAIT)

    def wait_for_error_text(self, text: str, after: int = 0) -> str:
        """What stderr holds once ``text`` stands in it past position ``after``. (stderr is
        read by a thread of its own: what the command wrote may not be here yet.)"""
        deadline = time.monotonic() + WAIT
        while text not in self.stderr[after:]:
            assert time.monotonic() < deadline, self.stderr
            time.sleep(0.02)
        return self.stderr

    def answer(self, text: str) -> None:
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def end(self) -> int:
        code = self.process.wait(timeout=WAIT)
        for reader in self.readers:  # each ends at its pipe's end: all the output is in
            reader.join(timeout=WAIT)
        log_secrets.check_output("opsjobs remote", "".join(self.stdout) + self.stderr)
        return code


def test_exec_follow_prints_output_as_it_comes_and_exits_with_the_jobs_code(server, tmp_path):
    gate = tmp_path / "go"
    web = server.objects["web-1"]
    running = Running(server, "exec", web, "gated", "--arg", f"gate={gate}", "--follow")
    assert running.next_line() == "first line\n"
    # The job waits for this file before it writes its second line: the first was shown live.
    assert not gate.exists()
    gate.touch()
    assert running.next_line() == "second line\n"
    assert running.end() == 3
    assert "to stderr" in running.stderr
    assert "failed (exit 3)" in running.stderr


def test_ctrl_c_asks_and_cancels_only_on_yes(server):
    web = server.objects["web-1"]
    running = Running(server, "exec", web, server.operations["sleepy"], "--follow")
    assert running.next_line() == "started\n"
    said = running.wait_for_error_text("following its output")
    job_id = said.split("job ", 1)[1].split()[0]
    running.process.send_signal(signal.SIGINT)
    running.wait_for_error_text("cancel the job? [y/N]")
    running.answer("n\n")
    time.sleep(0.5)
    assert running.process.poll() is None  # still following
    with server.client() as client:
        assert client.get_job(job_id)["execution"]["status"] == "running"
    asked_once = len(running.stderr)
    running.process.send_signal(signal.SIGINT)
    running.wait_for_error_text("cancel the job? [y/N]", after=asked_once)
    running.answer("y\n")
    code = running.end()
    with server.client() as client:
        job = client.get_job(job_id)
    assert job["execution"]["status"] == "cancelled"
    expected = job["description"].get("exitCode")
    assert code == (expected if isinstance(expected, int) else 1)
    assert "cancelled" in running.stderr


def test_tail_follows_a_job_from_its_start(server, tmp_path):
    gate = tmp_path / "go"
    with server.client() as client:
        job_id = client.execute(
            server.objects["web-1"], server.operations["gated"], {"gate": str(gate)}
        )
    running = Running(server, "tail", job_id)
    assert running.next_line() == "first line\n"
    gate.touch()
    assert running.next_line() == "second line\n"
    assert running.end() == 3
    again = Running(server, "tail", job_id, "--json")  # a finished job: all of it, then the end
    assert again.end() == 3
    events = [__import__("json").loads(line) for line in again.stdout]
    assert [e["event"] for e in events][-1] == "end"
    assert "".join(e["data"] for e in events if e.get("stream") == "stdout") == (
        "first line\nsecond line\n"
    )
