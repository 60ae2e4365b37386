"""The remote examples of README.md and docs/cli.md, run as written against a real server
(only the placeholders, the server's address and the executable's path filled in)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import log_secrets
from helpers import opsjobs_exe
from helpers.doc_examples import example
from helpers.remote import VIEWER
from opsjobs.client.config import VARIABLES


def test_the_readme_remote_example(server):
    block = example("README.md", "remote")
    assert "OPSJOBS_PASSWORD=" not in block and "--password" not in block
    script = (
        block.replace("http://127.0.0.1:8080", server.base)
        .replace("OPSJOBS_USER=viewer", f"OPSJOBS_USER={VIEWER[0]}")
        .replace("<object id>", server.objects["web-1"])
        .replace(".venv/bin/opsjobs", opsjobs_exe())
    )
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        input=VIEWER[1] + "\n",  # what the person types at `read -rs`
        env=server.env(None),
        capture_output=True,
        text=True,
        timeout=300,
    )
    log_secrets.check_output("README remote example", result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "site" in result.stdout and "web-1" in result.stdout  # the tree
    assert "Hello, Ada\n" in result.stdout and "Hello, Bob\n" in result.stdout
    job = json.loads(result.stdout[result.stdout.rindex('\n{"id"') :])
    assert job["description"]["stdout"] == "Hello, Bob\n"


def test_the_python_client_example(server):
    result = subprocess.run(
        [sys.executable, "-c", example("docs/cli.md", "python-client")],
        env=server.env(VIEWER),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["stdout Hello, Ada", "ended: succeeded"]
    assert "ResourceNotFound Entity not found: Job(6b0c3a99109606ffd3a35595)" in lines
    assert lines[-1] == "again: succeeded"


def test_the_client_configuration_file_example(server, tmp_path):
    """The file as shown, its URL and credentials made the test server's, read by a command."""
    shown = example("docs/cli.md", "client-config")
    assert set(tomllib.loads(shown)) <= set(VARIABLES)
    path = tmp_path / "client.toml"
    path.write_text(
        shown.replace("https://opsjobs.example", server.base)
        .replace('"alice"', f'"{VIEWER[0]}"')
        .replace('"…"', f'"{VIEWER[1]}"')
    )
    path.chmod(0o600)  # as the comment says: a readable file with a password is refused
    env = {k: v for k, v in server.env(None).items() if not k.startswith("OPSJOBS_")}
    result = subprocess.run(
        [opsjobs_exe(), "remote", "whoami"],
        env={**env, "OPSJOBS_CLIENT_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert VIEWER[0] in result.stdout
