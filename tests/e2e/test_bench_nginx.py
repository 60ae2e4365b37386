"""The benchmark's nginx anchor (bench/nginx.py): started with its own config in its own
directory, it serves the file it was given, refuses a request without credentials or with
wrong ones (401), and serves it to every user with theirs; the open location needs none.
Run as root, its worker runs as an unprivileged user and still reads the file."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's bench/

from bench import nginx  # noqa: E402

PASSWORDS = {"alice": "first secret", "bob": "s3cond:with colon"}
BODY = b'{"id": "5f1e0c3a0000000000000000", "output": "' + b"x" * 900 + b'"}'


def _binary() -> str:
    found = nginx.find_binary()
    if found is None:
        pytest.skip("nginx is not installed here: run `make nginx` (Debian's nginx package)")
    return found


@pytest.fixture
def served() -> Iterator:
    binary = _binary()
    # Not pytest's tmp_path: run as root, nginx's worker (nobody) must reach the directory,
    # and pytest's base directory is private to the user.
    directory = Path(tempfile.mkdtemp(prefix="opsjobs-nginx-"))
    server = nginx.start(directory, BODY, PASSWORDS, None, binary=binary)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _get(server, path: str, login: str | None = None, password: str = "") -> tuple[int, bytes]:
    headers = {}
    if login is not None:
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    conn = http.client.HTTPConnection(nginx.HOST, server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_apr1_location_refuses_without_credentials_and_serves_with_them(served):
    assert _get(served, nginx.APR1_PATH)[0] == 401
    assert _get(served, nginx.APR1_PATH, "alice", "wrong")[0] == 401
    assert _get(served, nginx.APR1_PATH, "mallory", "first secret")[0] == 401
    for login, password in PASSWORDS.items():
        assert _get(served, nginx.APR1_PATH, login, password) == (200, BODY)


def test_open_location_serves_the_file_without_credentials(served):
    assert _get(served, nginx.OPEN_PATH) == (200, BODY)


def test_its_files_are_its_own_and_it_stops(served):
    directory = Path(served.log_path).parent
    assert (directory / "nginx.pid").read_text().strip() == str(served.process.pid)
    conf = (directory / "nginx.conf").read_text()
    assert "/etc/nginx" not in conf and str(directory) in conf
    assert all(line.split(":", 1)[1].startswith("$apr1$") for line in
               (directory / "htpasswd").read_text().splitlines())  # fmt: skip
    workers = psutil.Process(served.process.pid).children()
    assert len(workers) == 1
    if os.geteuid() == 0:  # nginx drops its worker's rights; the file is still served
        assert workers[0].uids().effective != 0
    served.stop()
    assert served.process.poll() is not None
    assert not psutil.pid_exists(workers[0].pid) or workers[0].status() == psutil.STATUS_ZOMBIE


def test_a_login_an_htpasswd_cannot_hold_is_refused():
    with pytest.raises(ValueError):
        nginx.htpasswd({"eve:admin": "x"})
    with pytest.raises(ValueError):
        nginx.htpasswd({"eve\nroot": "x"})


def test_apr1_hash_has_a_fresh_salt_each_time():
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    first, second = nginx.apr1_hash("same"), nginx.apr1_hash("same")
    assert first.startswith("$apr1$") and first != second
