"""The client's parts on their own: the event-stream reader, the object tree, error bodies
that are not the contract's, and tokens kept out of httpx's log lines."""

from __future__ import annotations

import pytest

import log_secrets
from opsjobs.client import ApiError, Client, EndEvent, NotFound, OutputEvent, ProtocolError
from opsjobs.client.connection import redact_url
from opsjobs.client.errors import error_from
from opsjobs.client.events import EventParser, Resume
from opsjobs.client.tree import build_tree


def feed(parser: EventParser, text: str) -> list:
    return [e for line in text.split("\n") if (e := parser.feed(line)) is not None]


def test_the_event_stream_reader():
    parser = EventParser()
    events = feed(
        parser,
        ": keepalive\n\n"
        'event: output\nid: 6:0\ndata: {"stream": "stdout", "offset": 0, "data": "hello\\n"}\n\n'
        "event: novelty\ndata: {}\n\n"
        'event: end\ndata: {"id": "j",\ndata: "execution": {}}\n\n',
    )
    assert events == [
        OutputEvent("stdout", 0, "hello\n", "6:0"),
        EndEvent({"id": "j", "execution": {}}),
    ]
    with pytest.raises(ProtocolError):
        feed(EventParser(), "event: output\ndata: {not json\n\n")
    with pytest.raises(ProtocolError):
        feed(EventParser(), 'event: output\ndata: {"stream": "stdout"}\n\n')


def test_resuming_gives_up_after_repeated_breaks():
    resume = Resume()
    for _ in range(5):
        resume.broken("closed")
    resume.seen(OutputEvent("stdout", 0, "x", "1:0"))
    assert resume.headers() == {"Last-Event-ID": "1:0"} and resume.failures == 0
    for _ in range(5):
        resume.broken("closed")
    with pytest.raises(Exception, match="gave up"):
        resume.broken("closed")


def test_the_tree_takes_any_shape_without_recursion():
    chain = [{"id": "0", "name": "n0"}] + [
        {"id": str(i), "name": f"n{i}", "parent_id": [str(i - 1)]} for i in range(1, 20000)
    ]
    tree = build_tree(chain)
    depth, node = 0, tree[0]
    while node["children"]:
        node, depth = node["children"][0], depth + 1
    assert depth == 19999
    loop = [
        {"id": "r", "name": "root"},
        {"id": "a", "name": "a", "parent_id": ["r", "b"]},
        {"id": "b", "name": "b", "parent_id": "a"},
        {"id": "c", "name": "c", "parent_id": ["a", "r", "gone"]},
    ]
    [root] = build_tree(loop)
    assert [c["name"] for c in root["children"]] == ["a", "c"]  # c under both its parents
    assert [c["name"] for c in root["children"][0]["children"]] == ["b", "c"]
    with pytest.raises(ProtocolError):
        build_tree({"not": "a list"})


def test_a_body_that_is_not_the_contracts_still_makes_an_api_error():
    error = error_from(502, {"retry-after": "3"}, b"<html>bad gateway</html>", "Bad Gateway")
    assert type(error) is ApiError and error.code == "HTTP 502" and error.retry_after == 3
    known = error_from(404, {}, b'{"code": "ResourceNotFound", "message": "x"}', "")
    assert isinstance(known, NotFound) and str(known) == "404 ResourceNotFound: x"


def test_tokens_are_redacted_from_urls():
    assert (
        redact_url("GET http://h/x?a=1&auth-token=abc&b=2")
        == "GET http://h/x?a=1&auth-token=***&b=2"
    )
    assert redact_url("http://h/?api-token=zz") == "http://h/?api-token=***"


def test_httpx_log_lines_never_hold_the_token(server, log_since):
    with server.client() as admin:
        token = admin.issue_token(server.viewer_id)
    log_secrets.register(token, "API token")
    with Client(server.base, token=token) as client:
        client.current_user()
    lines = [line for line in log_since.lines() if "users/current" in line]
    assert lines and all(token not in line for line in lines)


def test_the_httpx_logger_redacts_tokens_whatever_logging_an_application_has():
    import logging

    import httpx

    url = httpx.URL("http://h/node/api/users/current?auth-token=tok-in-url-1")
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", url), None
    )
    assert logging.getLogger("httpx").filter(record)
    assert record.getMessage() == "HTTP Request: GET http://h/node/api/users/current?auth-token=***"
