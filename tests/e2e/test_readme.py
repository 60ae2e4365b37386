"""The README's examples, run as a new user would run them."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from helpers import SEED_JOB_KEYS
from helpers.make_run import OPSJOBS, make_run, user_env

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


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
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


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
    block = next(b for b in _blocks("sh") if "curl -X GET $url" in b)
    filled = (
        block.replace("password=Xq3v9kQm2LwZ8a1b", f"password={demo_server['admin']}")
        .replace("job_id=6b0c3a99109606ffd3a35595", f"job_id={demo_server['job']}")
        .replace("127.0.0.1:8080", f"127.0.0.1:{demo_server['port']}")
    )
    document = orjson.loads(_run_bash(filled, demo_server["cwd"], demo_server["env"]))
    assert document["id"] == demo_server["job"]
    assert set(document) >= SEED_JOB_KEYS


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
    env = user_env()
    block = next(b for b in _blocks("sh") if "opsjobs migrate" in b and "user add" in b)

    def run(*args: str) -> str:
        return subprocess.run(
            [OPSJOBS, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

    assert ".venv/bin/opsjobs group add operators --permission execute-operations" in block
    run("migrate")
    run("group", "add", "operators", "--permission", "execute-operations")
    datacenter = run("object", "add", "Data center")
    web = run("object", "add", "web-2", "--parent", datacenter)
    run("link", "add", datacenter, web)
    run("user", "add", "alice", "--generate", "--group", "operators", "--include", datacenter)
    assert re.fullmatch(r"[0-9a-f]{24}", web)
    assert ".venv/bin/opsjobs audit --since 1d --kind auth." in block
    assert "kind" in run("audit", "--since", "1d", "--kind", "auth.")  # the table, empty


def test_the_configuration_example(tmp_path):
    """The TOML file as the README shows it, and `config show` as it prints it."""
    file_text = next(b for b in _blocks("toml") if "database_url" in b)
    (tmp_path / "opsjobs.toml").write_text(file_text)
    block = next(b for b in _blocks("sh") if "config show" in b)
    command = next(line for line in block.splitlines() if not line.startswith("#"))
    env = user_env()
    printed = _run_bash(command.replace(".venv/bin/opsjobs", OPSJOBS), tmp_path, env)
    lines = {re.sub(r"\s+", " ", line) for line in printed.splitlines()}
    for shown in (line.removeprefix("# ") for line in block.splitlines() if line.startswith("#")):
        assert re.sub(r"\s+", " ", shown) in lines, (shown, printed)
    assert "change-me" not in printed  # the password in the file's URL is masked


def test_the_monitoring_examples_work_with_the_demo(demo_server):
    from prometheus_client.parser import text_string_to_metric_families

    block = next(b for b in _blocks("sh") if "/metrics" in b)
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
