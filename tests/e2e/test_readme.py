"""The README's examples, run as a new user would run them."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from helpers import SEED_JOB_KEYS
from helpers.doc_examples import assert_same_shape, example, shell
from helpers.make_run import (
    OPSJOBS,
    ROOT,
    free_port,
    make_run,
    make_run_commands,
    user_env,
    wait_listening,
)


@pytest.fixture
def demo_server(tmp_path):
    """`make run`'s two steps in a fresh directory: the demo, then serve."""
    with make_run(tmp_path) as demo:
        assert (tmp_path / "var" / "opsjobs.db").is_file(), "the database lives under ./var"
        yield {
            "port": demo.port,
            "admin": demo.password("admin"),
            "viewer": demo.password("viewer"),
            "job": demo.job_id,
            "printed": demo.printed,
            "cwd": tmp_path,
            "env": demo.env,
        }


def _run_bash(script: str, cwd: Path, env: dict) -> str:
    return shell(script, cwd, env, timeout=60).stdout


def test_the_printed_curl_line_fetches_the_job(demo_server):
    line = re.search(r"curl -u .*", demo_server["printed"]).group(0)
    out = _run_bash(line, demo_server["cwd"], demo_server["env"])
    job = orjson.loads(out)
    assert job["id"] == demo_server["job"]
    # A real run, made before the server started: finished, with the host's real output.
    assert job["execution"]["status"] == "succeeded", job
    assert job["execution"]["runner"] != "demo"
    assert "load average" in job["description"]["stdout"]


def test_the_printed_execute_lines_run_the_demo_operation_and_read_the_job(demo_server):
    import requests

    lines = re.search(
        r"^\s*(job=\$\(curl -s -u viewer:.*)\n\s*(sleep 1; curl -u viewer:.*)$",
        demo_server["printed"],
        flags=re.M,
    )
    job = orjson.loads(_run_bash("\n".join(lines.groups()), demo_server["cwd"], demo_server["env"]))
    base = f"http://127.0.0.1:{demo_server['port']}/node/api"
    viewer = ("viewer", demo_server["viewer"])
    deadline = time.monotonic() + 60
    while job["execution"]["status"] in ("queued", "running"):  # a busy machine: wait more
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = requests.get(f"{base}/jobs/{job['id']}", auth=viewer).json()
    assert job["execution"]["status"] == "succeeded", job
    assert job["description"]["stdout"] == "Hello, Ada, from 10.0.0.11\n"
    # A name that does not fit the operation's declared pattern makes no job.
    url = re.search(r"-X POST (\S+)", lines.group(1)).group(1)
    refused = requests.post(url, json={"name": "$(id)"}, auth=viewer)
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("args.name: does not match")


def test_the_seed_curl_example_in_the_readme_works_with_the_demo(demo_server):
    block = example("README.md", "seed-curl")
    filled = (
        block.replace("password=Xq3v9kQm2LwZ8a1b", f"password={demo_server['admin']}")
        .replace("job_id=6b0c3a99109606ffd3a35595", f"job_id={demo_server['job']}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{demo_server['port']}")
    )
    document = orjson.loads(_run_bash(filled, demo_server["cwd"], demo_server["env"]))
    assert document["id"] == demo_server["job"]
    assert set(document) >= SEED_JOB_KEYS
    # The answer the README shows: the same document, this machine's output and IDs aside.
    shown = orjson.loads(example("README.md", "seed-answer"))
    assert_same_shape(shown, document)
    assert (
        shown["id"] == "6b0c3a99109606ffd3a35595" and document["execution"]["status"] == "succeeded"
    )


def test_the_viewer_sees_part_of_the_tree(demo_server):
    import requests

    base = f"http://127.0.0.1:{demo_server['port']}/node/api"
    viewer = ("viewer", demo_server["viewer"])
    objects = {o["name"] for o in requests.get(f"{base}/objects", auth=viewer).json()}
    assert objects == {"Data center", "web-1"}
    admin = ("admin", demo_server["admin"])
    every = {o["name"]: o["id"] for o in requests.get(f"{base}/objects", auth=admin).json()}
    hidden = requests.get(f"{base}/objects/{every['db-1']}/jobs", auth=viewer)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "ResourceNotFound"
    visible = requests.get(f"{base}/objects/{every['web-1']}/jobs", auth=viewer)
    assert visible.status_code == 200 and len(visible.json()) >= 1


def test_a_second_demo_keeps_the_data_and_prints_working_passwords(demo_server):
    again = subprocess.run(
        [OPSJOBS, "demo"],
        cwd=demo_server["cwd"],
        env=demo_server["env"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert re.search(r"a job:\s+([0-9a-f]{24})", again).group(1) == demo_server["job"]
    runs = re.compile(r"^\s+([0-9a-f]{24})  ", flags=re.M)
    assert len(runs.findall(demo_server["printed"])) == 5
    assert runs.findall(again) == runs.findall(demo_server["printed"])  # no new runs
    import requests

    password = re.search(r"admin\s+password: (\S+)", again).group(1)
    # The running server learns of the new password through the database.
    url = f"http://127.0.0.1:{demo_server['port']}/node/api/jobs/{demo_server['job']}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = requests.get(url, auth=("admin", password))
        if response.status_code == 200:
            break
        time.sleep(0.2)
    assert response.status_code == 200


def test_the_administration_commands(tmp_path):
    """Each line as written, in order: the IDs the `object add` lines print fill the
    placeholders of the next, the history file holds the README's own job, and serve
    listens on a port of its own until alice reads that job through it."""
    env, port = user_env(), free_port()
    lines = [
        line.split("  #", 1)[0].strip().replace(".venv/bin/opsjobs", OPSJOBS)
        for line in example("README.md", "administration").splitlines()
    ]
    seed = orjson.loads(example("README.md", "seed-answer"))
    ids: dict[str, str] = {}
    printed: dict[str, str] = {}
    for line in lines[:-1]:
        line = (
            line.replace("<object id>", ids.get("dc", ""))
            .replace("<source id>", ids.get("dc", ""))
            .replace("<target id>", ids.get("web", ""))
        )
        if "history.jsonl" in line:
            (tmp_path / "history.jsonl").write_bytes(orjson.dumps({**seed, "owner_id": ids["web"]}))
        ran = shell(line, tmp_path, env, timeout=60)
        printed[line.split(OPSJOBS + " ", 1)[1]] = ran.stdout + ran.stderr
        out = ran.stdout.strip()
        if " object add " in line:
            ids["web" if "web-2" in line else "dc"] = out
    assert re.fullmatch(r"[0-9a-f]{24}", ids["web"]) and re.fullmatch(r"[0-9a-f]{24}", ids["dc"])
    assert "kind" in printed["audit --since 1d --kind auth."]  # the table, empty
    password = re.search(r"password for alice: (\S+)", "\n".join(printed.values())).group(1)
    serve = lines[-1].replace("--host 0.0.0.0 --port 8080", f"--host 127.0.0.1 --port {port}")
    server = subprocess.Popen(["bash", "-c", f"exec {serve}"], cwd=tmp_path, env=env)
    try:
        wait_listening(port)
        import requests

        url = f"http://127.0.0.1:{port}/node/api/jobs/{seed['id']}"
        imported = requests.get(url, auth=("alice", password), timeout=10)
        assert imported.status_code == 200, imported.text  # alice sees web-2's jobs
        assert imported.json()["owner_id"] == ids["web"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_configuration_example(tmp_path):
    """The TOML file as the README shows it, and `config show` as it prints it."""
    file_text = example("README.md", "config-file")
    (tmp_path / "opsjobs.toml").write_text(file_text)
    block = example("README.md", "config-show")
    command = next(line for line in block.splitlines() if not line.startswith("#"))
    env = user_env()
    printed = _run_bash(command.replace(".venv/bin/opsjobs", OPSJOBS), tmp_path, env)
    lines = {re.sub(r"\s+", " ", line) for line in printed.splitlines()}
    for shown in (line.removeprefix("# ") for line in block.splitlines() if line.startswith("#")):
        assert re.sub(r"\s+", " ", shown) in lines, (shown, printed)
    assert "change-me" not in printed  # the password in the file's URL is masked


def test_the_monitoring_examples_work_with_the_demo(demo_server):
    from prometheus_client.parser import text_string_to_metric_families

    block = example("README.md", "monitoring")
    said = {}
    for line in block.splitlines():
        command = line.split("#", 1)[0].replace(
            "127.0.0.1:8080", f"127.0.0.1:{demo_server['port']}"
        )
        route = re.search(r"/(healthz|readyz|metrics)", command).group(1)
        said[route] = _run_bash(command, demo_server["cwd"], demo_server["env"])
    assert orjson.loads(said["healthz"]) == {"status": "ok"}
    assert orjson.loads(said["readyz"])["status"] == "ready"
    names = {family.name for family in text_string_to_metric_families(said["metrics"])}
    assert {"opsjobs_http_requests", "opsjobs_jobs", "opsjobs_runners"} <= names


def test_the_two_commands_are_the_makefiles():
    """`make run` is what the demo fixture runs (helpers.make_run reads it from the Makefile);
    `make test` runs the suite this test is part of, so it is read, not run."""
    block = example("README.md", "the-two-commands")
    assert [line.split("#")[0].strip() for line in block.splitlines()] == ["make run", "make test"]
    assert [words[1:] for words in make_run_commands(8080)] == [
        ["demo", "--host", "127.0.0.1:8080"],
        ["serve", "--host", "127.0.0.1", "--port", "8080"],
    ]
    dry = subprocess.run(["make", "--no-print-directory", "-n", "test"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout  # fmt: skip
    assert dry.splitlines()[-1] == ".venv/bin/pytest", dry


def _what_stays(printed: str) -> list[str]:
    """A demo's output without what changes from one demo or machine to the next: IDs,
    passwords, the port, and each run's status and output (Announce fails without a broker)."""
    text = re.sub(r"[0-9a-f]{24}", "ID", printed)
    text = re.sub(r"(password: |-u \w+:)\S+", r"\1PASSWORD", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "HOST", text)
    text = re.sub(r"\s+(succeeded|failed)\s.*$", " STATUS", text, flags=re.M)
    return [line.strip() for line in text.splitlines()]


def test_the_readme_shows_what_the_demo_prints(demo_server):
    assert _what_stays(example("README.md", "demo-output")) == _what_stays(
        "opsjobs demo\n" + demo_server["printed"].split("opsjobs demo\n", 1)[1]
    )


def test_the_printed_state_lines_fire_db1s_trigger(demo_server):
    lines = demo_server["printed"].split("in Alarm: its state trigger runs System status:\n")[1]
    before = orjson.loads(_run_bash(lines.splitlines()[-1], demo_server["cwd"], demo_server["env"]))
    _run_bash(lines, demo_server["cwd"], demo_server["env"])
    deadline = time.monotonic() + 60
    while True:
        jobs = orjson.loads(
            _run_bash(lines.splitlines()[-1], demo_server["cwd"], demo_server["env"])
        )
        fired = [j for j in jobs if (j["process_meta"] or {}).get("triggerStates") == [5]]
        if len(fired) > len([j for j in before if j["process_meta"]]):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.2)
    assert all(j["user_id"] is None for j in fired)


@pytest.mark.timeout(180)
def test_closing_the_loop(demo_server):
    """The worked example as written, with the demo's password, port and web-1's ID: the
    schedule's check fails and sets Alarm, Alarm's trigger runs the remedy, the next check
    passes and sets Working; each a job with the process_meta that says why it ran."""
    import requests

    base = f"http://127.0.0.1:{demo_server['port']}/node/api"
    admin = ("admin", demo_server["admin"])
    web1 = next(o["id"] for o in requests.get(f"{base}/objects", auth=admin).json()
                if o["name"] == "web-1")  # fmt: skip
    script = (
        example("README.md", "closing-the-loop")
        .replace("Xq3v9kQm2LwZ8a1b", demo_server["admin"])
        .replace("127.0.0.1:8080", f"127.0.0.1:{demo_server['port']}")
        .replace("web1=6b0c3bc5109606ffd3a3558f", f"web1={web1}")
    )
    try:
        printed = shell(script, demo_server["cwd"], demo_server["env"]).stdout
    finally:
        Path(f"/tmp/up-{web1}").unlink(missing_ok=True)
    jobs, changes = (orjson.loads(line) for line in printed.splitlines())
    again, remedy, check = jobs
    assert [j["operation"]["name"] for j in jobs] == ["Is it up", "Start it", "Is it up"]
    assert [j["description"]["exitCode"] for j in jobs] == [0, 0, 1]
    working, alarm = changes
    assert (alarm["stateId"], alarm["reason"]["job"]) == (5, check["id"])
    assert (working["stateId"], working["reason"]["job"]) == (3, again["id"])
    for job in (check, again):
        assert job["process_meta"]["schedule"]["name"] == "web-1 up?"
    assert remedy["user_id"] is None and remedy["process_meta"]["triggerStates"] == [5]
    assert remedy["process_meta"]["stateChange"]["id"] == alarm["id"]
    for job in jobs:  # each one readable on its own
        read = requests.get(f"{base}/jobs/{job['id']}", auth=admin).json()
        assert read["process_meta"] == job["process_meta"]
    schedule = check["process_meta"]["schedule"]["id"]
    assert requests.get(f"{base}/schedules/{schedule}", auth=admin).json()["paused"] is True


def test_the_schedule_commands(demo_server):
    """The lines as written on the demo's database, for an alice who may run web-1's Greet;
    the ID `add` prints, on an 80-column terminal, fills `<schedule id>`."""
    cwd, env = demo_server["cwd"], {**demo_server["env"], "COLUMNS": "80"}
    execute = re.search(r"objects/([0-9a-f]{24})/operations/([0-9a-f]{24})/execute",
                        demo_server["printed"])  # fmt: skip
    _run_bash(f"{OPSJOBS} user add alice --generate --permission execute-operations "
              f"--include {execute.group(1)}", cwd, env)  # fmt: skip
    block = example("README.md", "schedules").replace("\\\n", "")
    said = []
    for line in block.splitlines():
        line = (
            line.split("  #", 1)[0]
            .replace(".venv/bin/opsjobs", OPSJOBS)
            .replace("<object id>", execute.group(1))
            .replace("<operation id>", execute.group(2))
        )
        if "<schedule id>" in line:
            line = line.replace("<schedule id>", re.search(r"[0-9a-f]{24}", said[0]).group(0))
        said.append(_run_bash(line, cwd, env))
    schedule_id = re.search(r"[0-9a-f]{24}", said[0]).group(0)
    assert schedule_id in said[1] and "0 3 *" in said[1], said[1]  # listed, whole
    assert "pause" in said[2], said[2]
    shown = orjson.loads(_run_bash(f"{OPSJOBS} schedule show {schedule_id} --json", cwd, env))
    assert (shown["name"], shown["timezone"], shown["paused"]) == ("nightly", "Europe/Berlin", True)
