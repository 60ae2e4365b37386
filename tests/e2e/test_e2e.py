"""End to end: `opsjobs serve` as a real process on a free port, and real HTTP clients — the
seed page's curl, fetch and Python requests examples, plain `requests`, `curl -d`."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import requests

import log_secrets
from helpers import (
    INVALID_LOGIN,
    NOT_LOGGED_IN,
    add_job,
    cli_env,
    run_cli,
    running_server,
)
from opsjobs.domain.ids import new_id
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, users
from opsjobs.store.core import Store

SEED_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "seed-examples.sh"
LOGIN, PASSWORD = "seed-user", "seed-password"


def seed_examples_script() -> Path:
    if not SEED_EXAMPLES.is_file():
        pytest.skip(f"{SEED_EXAMPLES} is absent: the seed examples live outside the repository")
    for tool in ("bash", "curl", "node"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed; seed-examples.sh needs it")
    return SEED_EXAMPLES


async def _seed(url: str) -> dict:
    """A user, an object tree and jobs, written through the store (as the CLI would)."""
    store = Store(url)
    await store.open()
    try:
        hasher = Passwords(time_cost=1, memory_kib=8)
        log_secrets.register_password(LOGIN, PASSWORD)
        site = await entities.create_object(store, name="site", parent_ids=["1"])
        web = await entities.create_object(store, name="web-1", parent_ids=[site["id"]])
        secret = await entities.create_object(store, name="secret", parent_ids=["1"])
        await users.create_user(
            store,
            login=LOGIN,
            password_hash=hasher.hash(PASSWORD),
            permissions=list(PERMISSIONS),
            include=[site["id"]],
        )
        job_id = await add_job(
            store,
            web["id"],
            description={"stdout": "Hello, world!", "exitCode": 0},
            operation_id="5ed0e3505a6afa192c2e711f",
        )
        hidden_job = await add_job(store, secret["id"])
        return {"object": web["id"], "job": job_id, "hidden_job": hidden_job}
    finally:
        await store.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{directory / 'opsjobs.db'}"
    migrated = run_cli("migrate", "--database-url", url)
    assert migrated.returncode == 0, migrated.stderr
    return {"url": url, "dir": directory, **asyncio.run(_seed(url))}


@pytest.fixture(scope="module")
def server(database):
    # A small body limit, to see 413 through a real HTTP server.
    env = cli_env(OPSJOBS_MAX_BODY_BYTES="4096")
    with running_server(database["url"], env=env) as (base, process):
        yield {**database, "base": base, "process": process}


@pytest.fixture(scope="module")
def tls_server(database):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    directory: Path = database["dir"]
    ca_file = directory / "ca.pem"
    certfile, keyfile = directory / "server.pem", directory / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(keyfile))
    with certfile.open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    with running_server(
        database["url"],
        "--certfile",
        str(certfile),
        "--keyfile",
        str(keyfile),
        scheme="https",
    ) as (base, process):
        yield {**database, "base": base, "ca": str(ca_file), "process": process}


def hostport(base: str) -> str:
    return base.split("://", 1)[1]


def run_seed_examples(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(seed_examples_script()), *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )


# -- the seed page's examples ---------------------------------------------------------------


def test_seed_examples_over_http(server):
    result = run_seed_examples(hostport(server["base"]), LOGIN, PASSWORD, server["job"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    curl" in result.stdout
    assert "ok    javascript fetch" in result.stdout
    assert "0 failed" in result.stdout


def test_seed_examples_catch_a_wrong_answer(server):
    # The harness itself must fail when the server answers something else.
    result = run_seed_examples(hostport(server["base"]), LOGIN, "wrong", server["job"])
    assert result.returncode != 0
    assert "FAIL  curl" in result.stdout


def test_seed_python_requests_example_over_https(tls_server):
    result = run_seed_examples(
        hostport(tls_server["base"]), LOGIN, PASSWORD, tls_server["job"], tls_server["ca"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    python requests (https)" in result.stdout
    assert "1 ran, 0 failed" in result.stdout


def test_requests_over_https_verifies_the_certificate(tls_server):
    url = f"{tls_server['base']}/node/api/jobs/{tls_server['job']}"
    response = requests.get(url, auth=(LOGIN, PASSWORD), verify=tls_server["ca"], timeout=10)
    assert response.status_code == 200 and response.json()["id"] == tls_server["job"]
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, auth=(LOGIN, PASSWORD), timeout=10)  # an unknown CA


# -- plain HTTP clients ---------------------------------------------------------------------


def test_requests_reads_a_job(server):
    url = f"{server['base']}/node/api/jobs/{server['job']}"
    response = requests.get(url, auth=(LOGIN, PASSWORD), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["id"] == server["job"]
    assert document["description"] == {"stdout": "Hello, world!", "exitCode": 0}
    assert document["owner_id"] == server["object"] and document["owner_type"] == 1
    assert document["results"] == [] and document["process_meta"] is None


def test_requests_errors(server):
    base = server["base"]
    url = f"{base}/node/api/jobs/{server['job']}"
    response = requests.get(url, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"code": "Unauthorized", "message": NOT_LOGGED_IN}
    response = requests.get(url, auth=(LOGIN, "wrong"), timeout=10)
    assert response.status_code == 401
    assert response.json() == {"code": "InvalidCredentials", "message": INVALID_LOGIN}
    hidden = server["hidden_job"]
    response = requests.get(f"{base}/node/api/jobs/{hidden}", auth=(LOGIN, PASSWORD), timeout=10)
    assert response.status_code == 404
    assert response.json() == {
        "code": "ResourceNotFound",
        "message": f"Entity not found: Job({hidden})",
    }
    response = requests.get(f"{base}/node/api/nowhere", auth=(LOGIN, PASSWORD), timeout=10)
    assert response.status_code == 404 and set(response.json()) == {"code", "message"}


def test_requests_session_token_and_lists(server):
    base = server["base"]
    with requests.Session() as session:
        response = session.post(
            f"{base}/node/api/users/session",
            json={"login": LOGIN, "password": PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200
        assert session.cookies["sid"] == response.json()
        # As SAYMON's web client does: every change echoes the csrf cookie in a header.
        log_secrets.register(session.cookies["csrf"], "CSRF token")
        session.headers["X-CSRF-Token"] = session.cookies["csrf"]
        me = session.get(f"{base}/node/api/users/current", timeout=10).json()
        assert me["login"] == LOGIN
        response = session.post(
            f"{base}/node/api/jobs", json={"objects": [server["object"]]}, timeout=10
        )
        assert [d["id"] for d in response.json()] == [server["job"]]
        token = session.post(f"{base}/node/api/users/{me['id']}/auth-token", timeout=10).json()
        log_secrets.register(token, "API token")
        log_secrets.register(session.cookies["sid"], "session ID")
        assert session.delete(f"{base}/node/api/users/session", timeout=10).status_code == 200
        response = requests.get(
            f"{base}/node/api/objects/{server['object']}/jobs",
            params={"auth-token": token},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.json()[0]["operation"] == {"name": "uptime"}


def test_requests_appends_results(server):
    job_url = f"{server['base']}/node/api/jobs/{server['job']}"
    auth = (LOGIN, PASSWORD)
    before = len(requests.get(job_url, auth=auth, timeout=10).json()["results"])
    response = requests.patch(job_url + "/results", json={"from": "e2e"}, auth=auth, timeout=10)
    assert response.status_code == 200 and response.content == b""
    document = requests.get(job_url, auth=auth, timeout=10).json()
    assert len(document["results"]) == before + 1
    assert document["results"][-1]["payload"] == {"from": "e2e"}


def test_body_limit_through_a_real_server(server):
    url = f"{server['base']}/node/api/jobs"
    auth = (LOGIN, PASSWORD)
    body = b'{"objects": ["1"], "pad": "' + b"x" * 10_000 + b'"}'
    response = requests.post(url, data=body, auth=auth, timeout=10)
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"

    def chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = requests.post(url, data=chunks(), auth=auth, timeout=10)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"
    # The server is still fine afterwards.
    assert requests.get(f"{server['base']}/node/api/ping", timeout=10).status_code == 200


def test_curl_dash_d_sends_form_content_type_and_is_read_as_json(server):
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    url = f"{server['base']}/node/api/jobs"

    def curl(data: str) -> tuple[int, dict | list]:
        result = subprocess.run(
            [
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                "-H",
                f"Authorization: Basic {token}",
                "-d",
                data,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        body, _, status = result.stdout.rpartition("\n")
        return int(status), orjson.loads(body)

    status, body = curl(f'{{"objects": ["{server["object"]}"]}}')
    assert status == 200 and [d["id"] for d in body] == [server["job"]]
    status, body = curl('{"objects": [')
    assert status == 400 and body["code"] == "InvalidContent" and "position 13" in body["message"]


def test_cli_changes_reach_a_running_server(server):
    """Another process (the CLI) adds a user; the server lets it in within a moment."""
    added = run_cli(
        "user", "add", "late-user", "--password", "late-pw", "--include", "1",
        "--database-url", server["url"],
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    url = f"{server['base']}/node/api/users/current"
    deadline = time.monotonic() + 10
    while True:
        response = requests.get(url, auth=("late-user", "late-pw"), timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert response.json()["login"] == "late-user"


def test_server_ids_are_fresh(server):
    # A job ID that names nothing is a 404 through the real stack too.
    unknown = new_id()
    response = requests.get(
        f"{server['base']}/node/api/jobs/{unknown}", auth=(LOGIN, PASSWORD), timeout=10
    )
    assert response.status_code == 404
    assert response.json()["message"] == f"Entity not found: Job({unknown})"


def test_the_server_io_threads_yield_to_the_event_loop(server):
    """granian's socket threads run at the lowest priority, the loop's thread at its own."""
    psutil = pytest.importorskip("psutil")
    workers = psutil.Process(server["process"].pid).children(recursive=True)
    deadline = time.monotonic() + 10
    while True:
        niceness = {
            (
                thread.id,
                Path(f"/proc/{worker.pid}/task/{thread.id}/comm").read_text().strip(),
            ): os.getpriority(os.PRIO_PROCESS, thread.id)
            for worker in workers
            for thread in worker.threads()
        }
        io = [nice for (_, name), nice in niceness.items() if name.startswith("tokio-")]
        if io and all(nice == 19 for nice in io):
            break
        assert time.monotonic() < deadline, niceness
        time.sleep(0.2)
    loop_threads = [nice for (tid, _), nice in niceness.items() if tid in {w.pid for w in workers}]
    assert loop_threads and all(nice == 0 for nice in loop_threads)
