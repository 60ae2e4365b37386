"""A SAYMON administrator's curl script (saymon_admin.sh) against `make run`'s server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import log_secrets
from helpers.make_run import make_run

SCRIPT = Path(__file__).with_name("saymon_admin.sh")

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("jq")), reason="the script needs curl and jq"
)


@pytest.fixture
def make_run_server(tmp_path):
    """`make run`'s two commands, in a fresh directory: the demo, then serve."""
    with make_run(tmp_path) as demo:
        yield {
            "saymon_hostname": f"127.0.0.1:{demo.port}",
            "login": "admin",
            "password": demo.password("admin"),
            "job_id": demo.job_id,
            "env": demo.env,
            "cwd": tmp_path,
        }


def _register_cookies(jar: Path) -> None:
    """The session's cookies, as secrets no server log may hold."""
    for line in jar.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 7 and fields[5] in ("sid", "csrf"):
            log_secrets.register(fields[6], f"{fields[5]} cookie")


def test_a_saymon_administrators_script_runs_unchanged(make_run_server):
    names = ("login", "password", "saymon_hostname", "job_id")
    new_user_password = "Report-bot-" + os.urandom(6).hex()
    log_secrets.register_password("admin", make_run_server["password"])
    log_secrets.register_password("report-bot", new_user_password)
    jar = make_run_server["cwd"] / "cookies.txt"
    env = {
        **make_run_server["env"],
        **{name: make_run_server[name] for name in names},
        "new_user_password": new_user_password,
        "cookie_jar": str(jar),
    }
    run = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=make_run_server["cwd"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    said = dict(line.split("=", 1) for line in run.stdout.splitlines())
    _register_cookies(jar)
    log_secrets.register(said["token"], "API token")
    assert said["csrf_cookie"] == "yes"
    # The integer class_id is kept as SAYMON's standard class Host, "3".
    assert said["object_class_id"] == "3"
    assert re.fullmatch(r"[0-9a-f]{24}", said["object_id"])
    assert re.fullmatch(r"[0-9a-f]{24}", said["prop_id"])
    assert said["prop"] == '["off",3]'
    assert said["object_tags"] == f'["{said["tag_id"]}"]'
    assert said["in_parent_child_ids"] == "yes"
    assert said["root_class_id"] == "1"  # SAYMON's standard class Root
    assert "db-replica-7" in said["children_names"]
    assert said["token_read_back"] == "yes"
    assert said["job_basic"] == make_run_server["job_id"]
    assert said["job_token"] == make_run_server["job_id"]
    assert said["job_token_session"] == make_run_server["job_id"]
    assert said["cookie_without_csrf"] == "403"
    assert said["basic_without_csrf"] == "200"
    assert said["weight"] == "2"
