"""The benchmark's floor (bench/floor.py): a constant ASGI app served by the same granian
configuration as ``opsjobs serve``. It answers the bytes it was given to any GET, as the
server opsjobs runs under announces itself, and stops when told."""

from __future__ import annotations

import http.client
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's bench/

from bench import floor, servers  # noqa: E402

BODY = b'{"id": "5f1e0c3a0000000000000000", "output": "' + b"x" * 300 + b'"}'


def _get(server, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(servers.HOST, server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": "Basic YTpi"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def served(tmp_path):
    server = floor.start(tmp_path / "floor", BODY, None, tmp_path / "logs")
    try:
        yield server
    finally:
        server.stop()


def test_it_answers_the_body_it_was_given_as_granian(served):
    status, headers, body = _get(served, floor.PATH)
    assert (status, body) == (200, BODY)
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(BODY))
    assert headers["server"] == "granian"  # the server opsjobs serve runs under


def test_any_path_gets_the_same_answer_and_it_stops(served):
    assert _get(served, "/node/api/ping")[2] == BODY
    served.stop()
    assert served.process.returncode != -signal.SIGKILL  # ended on SIGTERM, not killed
