"""The script executor against real processes: exit codes, signals, timeouts that end the
whole process group, environment, working directory, output capture in bounded memory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import orjson
import psutil
import pytest

from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.spec import ExecSpec, ScriptSpec, dump_spec, load_spec
from opsjobs.execution.control import JobControl
from opsjobs.execution.output import OutputRecorder
from opsjobs.execution.process import start_process
from opsjobs.execution.script import exit_code, run_process, script_environment
from opsjobs.execution.workdirs import WorkDirs
from opsjobs.store.queue import ClaimedJob

JOB = ClaimedJob("0" * 24, "1", 1, "5ed0e3505a6afa192c2e711f", None)


async def run(spec, cap: int = 1024 * 1024, control: JobControl | None = None, grace=0.5):
    recorder = OutputRecorder(cap)
    outcome = await run_process(
        spec, script_environment(JOB), control or JobControl(), recorder, kill_grace=grace
    )
    return outcome


def script(text: str, timeout: float = 10) -> ScriptSpec:
    return ScriptSpec(text=text, timeout=timeout)


def gone(pid: int) -> bool:
    """Dead, or a zombie waiting for a parent that is not ours to reap."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        await asyncio.sleep(0.02)
    return gone(pid)


def test_exit_code_follows_the_shell_convention():
    assert exit_code(0) == 0
    assert exit_code(3) == 3
    assert exit_code(-signal.SIGKILL) == 137
    assert exit_code(-signal.SIGTERM) == 143


async def test_success_reports_stdout_and_exit_code_zero():
    outcome = await run(ExecSpec(["echo", "Hello, world!"], 10))
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.description == {"stdout": "Hello, world!\n", "exitCode": 0, "stderr": ""}
    assert outcome.error is None
    assert not outcome.truncated


async def test_nonzero_exit_fails_with_its_code():
    outcome = await run(script("echo partial; echo oops >&2; exit 3"))
    assert outcome.status is JobStatus.FAILED
    assert outcome.description == {"stdout": "partial\n", "exitCode": 3, "stderr": "oops\n"}
    assert outcome.error == "exited with code 3"


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGUSR1, signal.SIGTERM])
async def test_a_process_ended_by_signal_n_reports_128_plus_n(sig):
    outcome = await run(
        ExecSpec([sys.executable, "-c", f"import os; os.kill(os.getpid(), {sig})"], 10)
    )
    assert outcome.status is JobStatus.FAILED
    assert outcome.description["exitCode"] == 128 + sig
    assert outcome.error == f"killed by signal {int(sig)} ({sig.name})"


async def test_exec_passes_argv_verbatim_without_a_shell():
    outcome = await run(ExecSpec(["printf", "%s|", "a b", "$HOME", "`id`", "; rm -rf /"], 10))
    assert outcome.description["stdout"] == "a b|$HOME|`id`|; rm -rf /|"


async def test_a_missing_program_fails_without_starting():
    outcome = await run(ExecSpec(["/no/such/program", "x"], 10))
    assert outcome.status is JobStatus.FAILED
    assert outcome.description["exitCode"] == 127
    assert outcome.error == "cannot run /no/such/program: No such file or directory"


@pytest.mark.parametrize(
    "argv, cwd",
    [
        (["no-such-program-anywhere"], None),
        (["/no/such/program"], None),
        (["not-executable"], None),  # a file of the working directory, mode 0644
        (["true"], "/no/such/directory"),
    ],
)
def test_a_process_that_cannot_start_fails_as_popen_says(argv, cwd, tmp_path):
    cwd = cwd or str(tmp_path)
    (tmp_path / "not-executable").write_text("true\n")
    argv = [str(tmp_path / a) if a == "not-executable" else a for a in argv]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    with pytest.raises(OSError) as expected:
        subprocess.Popen(argv, cwd=cwd, env=env, start_new_session=True)
    with pytest.raises(OSError) as ours:
        start_process(argv, cwd, env)
    assert type(ours.value) is type(expected.value)
    assert (ours.value.errno, ours.value.strerror, ours.value.filename) == (
        expected.value.errno,
        expected.value.strerror,
        expected.value.filename,
    )


async def test_script_runs_by_its_interpreter_line():
    text = "#!/usr/bin/env python3\nimport sys\nprint('python', sys.version_info[0])\n"
    outcome = await run(script(text))
    assert outcome.description["stdout"] == "python 3\n"


async def test_script_without_interpreter_line_runs_by_bin_sh():
    outcome = await run(script('echo "$0" | grep -c opsjobs-script; echo $(( 6 * 7 ))'))
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.description["stdout"] == "1\n42\n"


async def test_a_missing_interpreter_is_named():
    outcome = await run(script("#!/no/such/shell\necho hi\n"))
    assert outcome.status is JobStatus.FAILED
    assert "#!/no/such/shell" in outcome.error


async def test_environment_is_minimal():
    os.environ["OPSJOBS_TEST_SECRET"] = "do-not-leak"
    try:
        outcome = await run(ExecSpec(["env"], 10))
    finally:
        del os.environ["OPSJOBS_TEST_SECRET"]
    env = dict(line.split("=", 1) for line in outcome.description["stdout"].splitlines())
    assert set(env) == {
        "PATH",
        "LANG",
        "OPSJOBS_JOB_ID",
        "OPSJOBS_OWNER_ID",
        "OPSJOBS_OPERATION_ID",
    }
    assert env["OPSJOBS_JOB_ID"] == JOB.id
    assert env["OPSJOBS_OWNER_ID"] == "1"
    assert env["OPSJOBS_OPERATION_ID"] == JOB.operation_id


async def test_a_script_gets_its_values_from_its_spec_and_nothing_else_changes():
    values = {"OPSJOBS_V1": "a b\n$(x)", "OPSJOBS_ARG_host": "web-1"}
    text = 'printf "%s|%s|%s" "$OPSJOBS_V1" "$OPSJOBS_ARG_host" "$OPSJOBS_JOB_ID"'
    outcome = await run(ScriptSpec(text=text, timeout=10, env=values))
    assert outcome.description["stdout"] == f"a b\n$(x)|web-1|{JOB.id}"


@pytest.mark.parametrize("name", ["PATH", "LD_PRELOAD", "OPSJOBS_JOB_ID", "BASH_ENV", "OPSJOBS_V0"])
def test_a_spec_cannot_set_any_other_variable(name):
    with pytest.raises(ValueError, match="not an environment variable a spec may set"):
        ScriptSpec(text="true", timeout=1, env={name: "x"})
    spec = orjson.dumps({"type": "script", "text": "true", "timeout": 1, "env": {name: "x"}})
    with pytest.raises(ValueError):
        load_spec(spec.decode())


def test_a_spec_written_before_env_existed_loads_with_none():
    spec = load_spec('{"type": "script", "text": "echo hi", "timeout": 5}')
    assert spec == ScriptSpec(text="echo hi", timeout=5, env={})
    assert load_spec(dump_spec(spec)) == spec


async def test_each_run_gets_a_fresh_working_directory_that_is_removed_after(tmp_path):
    workdirs = WorkDirs(str(tmp_path), ready=2)  # directories are made ahead, too
    seen = []
    for spec in (
        script("pwd; ls -A | grep -v opsjobs-script | wc -l; touch left-over; mkdir sub"),
        ExecSpec(["sh", "-c", "pwd; ls -A | wc -l"], 10),
        ExecSpec(["sh", "-c", "pwd; ls -A | wc -l"], 10),
    ):
        outcome = await run_process(
            spec, script_environment(JOB), JobControl(), OutputRecorder(1024), workdirs=workdirs
        )
        directory, count = outcome.description["stdout"].split()
        assert directory.startswith(f"{tmp_path}/opsjobs-job-")
        assert count == "0"  # empty when the run began: nothing of an earlier run
        seen.append(directory)
    assert len(set(seen)) == 3  # never one directory for two runs
    await asyncio.to_thread(workdirs.close)
    assert list(tmp_path.iterdir()) == []  # used ones removed, contents and all; ready ones too


async def test_used_directories_are_removed_behind_the_runs(tmp_path):
    workdirs = WorkDirs(str(tmp_path), ready=1)
    try:
        outcome = await run_process(
            script("touch a; pwd"),
            script_environment(JOB),
            JobControl(),
            OutputRecorder(1024),
            workdirs=workdirs,
        )
        used = outcome.description["stdout"].strip()
        deadline = time.monotonic() + 10
        while os.path.exists(used) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not os.path.exists(used)  # without waiting for close
    finally:
        await asyncio.to_thread(workdirs.close)


async def test_a_working_directory_that_cannot_be_made_is_an_error(tmp_path):
    workdirs = WorkDirs(str(tmp_path / "missing"), ready=1)
    with pytest.raises(OSError):
        await run_process(
            ExecSpec(["true"], 10),
            script_environment(JOB),
            JobControl(),
            OutputRecorder(1024),
            workdirs=workdirs,
        )
    await asyncio.to_thread(workdirs.close)


async def test_stdin_is_empty():
    outcome = await run(ExecSpec(["cat"], 5))
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.description["stdout"] == ""


async def test_timeout_terminates_the_whole_process_group_including_grandchildren():
    # The grandchild is a subshell that ignores SIGTERM: only the SIGKILL after the grace
    # period ends it.
    text = "(trap '' TERM; sleep 300) & echo $!; sleep 300"
    started = time.monotonic()
    outcome = await run(script(text, timeout=0.5), grace=0.3)
    assert time.monotonic() - started < 5
    assert outcome.status is JobStatus.TIMEOUT
    assert outcome.error == "timed out after 0.5 s"
    assert outcome.description["exitCode"] == 128 + signal.SIGTERM
    grandchild = int(outcome.description["stdout"].split()[0])
    assert await wait_gone(grandchild)


async def test_timeout_of_a_process_ignoring_sigterm_ends_by_sigkill():
    text = "trap '' TERM; echo ready; sleep 300 & wait"
    outcome = await run(script(text, timeout=0.3), grace=0.3)
    assert outcome.status is JobStatus.TIMEOUT
    assert outcome.description["exitCode"] == 128 + signal.SIGKILL
    assert outcome.description["stdout"] == "ready\n"


async def test_descendants_holding_the_pipes_do_not_keep_a_finished_run_alive():
    started = time.monotonic()
    outcome = await run(script("sleep 300 & echo $!"))
    assert time.monotonic() - started < 5
    assert outcome.status is JobStatus.SUCCEEDED
    assert await wait_gone(int(outcome.description["stdout"]))


async def test_descendants_that_let_go_of_the_pipes_are_left_alone():
    outcome = await run(script("sleep 300 >/dev/null 2>&1 & echo $!"))
    pid = int(outcome.description["stdout"])
    try:
        assert not gone(pid), "a detached descendant outlives its job on purpose"
    finally:
        os.kill(pid, signal.SIGKILL)


async def test_a_stop_request_ends_the_run_with_its_status_and_reason():
    control = JobControl()

    async def stop_soon():
        await asyncio.sleep(0.3)
        control.stop("cancelled")

    stopper = asyncio.create_task(stop_soon())
    outcome = await run(script("echo started; sleep 300"), control=control)
    await stopper
    assert outcome.status is JobStatus.CANCELLED
    assert outcome.error == "cancelled"
    assert outcome.description["stdout"] == "started\n"
    assert outcome.description["exitCode"] == 128 + signal.SIGTERM


async def test_interleaved_stdout_and_stderr_stay_separate():
    text = "for i in $(seq 1 300); do echo out$i; echo err$i >&2; done"
    outcome = await run(script(text))
    assert outcome.description["stdout"].split() == [f"out{i}" for i in range(1, 301)]
    assert outcome.description["stderr"].split() == [f"err{i}" for i in range(1, 301)]


async def test_output_that_is_not_utf8_is_kept_as_replacement_characters():
    outcome = await run(script(r"printf 'ok \377\376 caf\303\251'; printf '\200' >&2"))
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.description["stdout"] == "ok \ufffd\ufffd café"
    assert outcome.description["stderr"] == "\ufffd"
    assert orjson.loads(orjson.dumps(outcome.description)) == outcome.description


async def test_50_mib_of_output_is_capped_and_memory_stays_flat():
    me = psutil.Process()
    await run(script("head -c 1048576 /dev/zero"))  # warm up allocator pools
    before = me.memory_info().rss
    peak = before
    done = asyncio.Event()

    async def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, me.memory_info().rss)
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    outcome = await run(script("head -c 52428800 /dev/urandom | base64 -w 0; echo; echo END"))
    done.set()
    await sampler
    assert outcome.status is JobStatus.SUCCEEDED
    assert outcome.truncated
    stdout = outcome.description["stdout"]
    assert len(stdout.encode()) <= 1024 * 1024
    assert stdout.endswith("\nEND\n")
    assert "bytes left out]" in stdout
    assert peak - before < 24 * 1024 * 1024, f"RSS grew by {(peak - before) >> 20} MiB"
