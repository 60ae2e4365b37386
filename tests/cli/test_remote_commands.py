"""The remote commands against a real server: JSON a program parses, tables a person reads,
credentials only from the environment or the configuration file and never printed, and job
output made harmless for a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import log_secrets
from helpers import opsjobs_exe, run_cli
from helpers.remote import ADMIN, VIEWER, RemoteServer


def remote(server: RemoteServer, *args: str, who=ADMIN, **env: str):
    return run_cli("remote", *args, env=server.env(who, **env))


def ok(result) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def finished_job(server: RemoteServer, operation: str, **args: str) -> str:
    """A job of the operation on web-1, run to its end through `exec --follow --json`."""
    pairs = [x for name, value in args.items() for x in ("--arg", f"{name}={value}")]
    result = remote(
        server, "exec", server.objects["web-1"], operation, *pairs, "--follow", "--json"
    )
    return json.loads(result.stdout.splitlines()[-1])["job"]["id"]


def test_json_is_what_the_api_answers(server):
    web = server.objects["web-1"]
    job_id = json.loads(ok(remote(server, "exec", web, "Greet", "--arg", "name=Ada", "--json")))[
        "id"
    ]
    lines = [json.loads(x) for x in ok(remote(server, "tail", job_id, "--json")).splitlines()]
    assert lines[0] == {"event": "output", "stream": "stdout", "offset": 0, "data": "Hello, Ada\n"}
    assert lines[-1]["event"] == "end" and lines[-1]["job"]["id"] == job_id
    job = json.loads(ok(remote(server, "jobs", "get", job_id, "--json")))
    assert (
        job["description"]["stdout"] == "Hello, Ada\n" and job["execution"]["status"] == "succeeded"
    )
    listed = json.loads(
        ok(remote(server, "jobs", "list", "--object", web, "--status", "succeeded",
                  "--order", "desc", "--limit", "1", "--from", "1h", "--json"))
    )  # fmt: skip
    assert [j["id"] for j in listed] == [job_id]
    assert json.loads(ok(remote(server, "jobs", "list", "--link", server.link, "--json"))) == []
    [root] = json.loads(ok(remote(server, "objects", "tree", "--json")))
    site = next(n for n in root["children"] if n["name"] == "site")
    assert [c["name"] for c in site["children"]] == ["db-1", "web-1"]
    operations = json.loads(ok(remote(server, "operations", web, "--json")))
    assert {"Greet", "gated", "sleepy"} <= {o["name"] for o in operations}
    assert json.loads(ok(remote(server, "whoami", "--json")))["login"] == ADMIN[0]


def test_tables_for_people(server):
    job_id = finished_job(server, "Greet", name="Bob")
    shown = ok(remote(server, "jobs", "list", "--object", server.objects["web-1"], "--limit", "50"))
    assert re.search(rf"{job_id}.*succeeded.*Greet", shown)
    detail = ok(remote(server, "jobs", "get", job_id))
    assert re.search(r"exit code\s+0", detail) and "Hello, Bob" in detail
    tree = ok(remote(server, "objects", "tree", who=VIEWER))
    assert "site" in tree and "web-1" in tree and "hidden" not in tree


def test_cancel(server):
    web = server.objects["web-1"]
    job_id = ok(remote(server, "exec", web, server.operations["sleepy"])).strip()
    with server.client() as client:
        next(iter(client.stream_job(job_id)))  # its first output: it runs
    assert "cancel" in ok(remote(server, "cancel", job_id))
    with server.client() as client:
        assert list(client.stream_job(job_id))[-1].job["execution"]["status"] == "cancelled"
    again = remote(server, "cancel", job_id, "--json")
    assert again.returncode == 255 and "409 Conflict" in again.stderr


def test_batches(server):
    web = server.objects["web-1"]
    greet = server.operations["Greet"]
    made = json.loads(
        ok(remote(server, "batch", "run", greet, "--object", web, "--arg", "name=Ada",
                  "--concurrency", "1", "--name", "greet all", "--json"))
    )  # fmt: skip
    assert (made["name"], made["target"], made["args"]) == (
        "greet all",
        {"objects": [web]},
        {"name": "Ada"},
    )
    listed = json.loads(ok(remote(server, "batch", "list", "--json")))
    assert made["id"] in {b["id"] for b in listed}
    assert made["id"] in ok(remote(server, "batch", "list"))
    got = json.loads(ok(remote(server, "batch", "get", made["id"], "--json")))
    assert got["id"] == made["id"] and got["operation"] == greet
    assert "greet all" in ok(remote(server, "batch", "get", made["id"]))
    cancelled = json.loads(ok(remote(server, "batch", "cancel", made["id"], "--json")))
    assert cancelled["status"] in ("cancelled", "finished")
    neither = remote(server, "batch", "run", greet)
    assert neither.returncode == 255 and "exactly one of" in neither.stderr
    refused = remote(server, "batch", "get", made["id"], who=VIEWER)
    assert refused.returncode == 255 and "404 ResourceNotFound" in refused.stderr


def test_refusals_are_one_line_and_exit_255(server):
    hidden = remote(server, "jobs", "list", "--object", server.objects["hidden"], who=VIEWER)
    assert hidden.returncode == 255
    assert "404 ResourceNotFound" in hidden.stderr and "Traceback" not in hidden.stderr
    both = remote(server, "jobs", "list", "--object", "a", "--link", "b")
    assert both.returncode == 2
    unknown = remote(server, "exec", server.objects["web-1"], "no-such-operation")
    assert unknown.returncode == 255 and "no operation named" in unknown.stderr


def test_credentials_are_never_options(server):
    for option in ("--password", "--token", "--user", "--login"):
        result = run_cli("remote", option, "secret-value-1", "whoami", env=server.env(None))
        assert result.returncode == 2 and "No such option" in result.stderr, option
    with_userinfo = remote(server, "--url", "http://someone:pw-in-url-9@127.0.0.1:1", "whoami")
    assert with_userinfo.returncode == 255
    assert "must not hold credentials" in with_userinfo.stderr
    assert "pw-in-url-9" not in with_userinfo.stdout + with_userinfo.stderr


def test_token_and_configuration_file(server, tmp_path):
    with server.client() as client:
        token = client.issue_token(server.viewer_id)
    log_secrets.register(token, "API token")
    by_token = remote(server, "whoami", who=None, OPSJOBS_TOKEN=token)
    assert VIEWER[0] in ok(by_token)
    config = tmp_path / "client.toml"
    config.write_text(f'url = "{server.base}"\nuser = "{VIEWER[0]}"\npassword = "{VIEWER[1]}"\n')
    config.chmod(0o600)
    env = server.env(None, OPSJOBS_CLIENT_CONFIG=str(config))
    env.pop("OPSJOBS_URL")
    assert VIEWER[0] in ok(run_cli("remote", "whoami", env=env))
    config.chmod(0o644)
    refused = run_cli("remote", "whoami", env=env)
    assert refused.returncode == 255 and "chmod 600" in refused.stderr


def test_secrets_are_never_printed(server):
    wrong = remote(server, "whoami", who=(VIEWER[0], "wrong-password-77"))
    assert wrong.returncode == 255 and "401 InvalidCredentials" in wrong.stderr
    assert "wrong-password-77" not in wrong.stdout + wrong.stderr
    with server.client() as client:
        token = client.issue_token(server.viewer_id)
    log_secrets.register(token, "API token")
    for args in (["whoami"], ["jobs", "get", "nope"], ["--url", "http://127.0.0.1:1", "whoami"]):
        result = remote(server, *args, who=None, OPSJOBS_TOKEN=token)
        assert token not in result.stdout + result.stderr, args
        assert VIEWER[1] not in result.stdout + result.stderr


def on_a_terminal(server: RemoteServer, *args: str) -> str:
    """What a remote command writes to a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [opsjobs_exe(), "remote", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=server.env(),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_job_output_cannot_drive_the_terminal(server):
    job_id = finished_job(server, "hostile")
    piped = ok(remote(server, "tail", job_id))
    assert "\x1b[31m" in piped  # to a pipe: the bytes as the job wrote them
    shown = on_a_terminal(server, "tail", job_id)
    assert "a \\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 b\\x1b[1A\\x1b[2K\\x0d c" in shown
    assert "\x1b]" not in shown and "\x07" not in shown and "\x1b[1A" not in shown
    detail = on_a_terminal(server, "jobs", "get", job_id)
    assert "\\x1b]0;owned" in detail and "\x1b]" not in detail
