"""Refusals arrive as the exception of their code (docs/api.md §2), with status, code, message
and detail; failures to reach the server as TransportError; hostile IDs never reach another
route."""

from __future__ import annotations

import time

import pytest

from helpers import free_port
from helpers.remote import ADMIN, VIEWER
from opsjobs.client import (
    ApiError,
    BadRequest,
    Client,
    ConfigError,
    Forbidden,
    InvalidCredentials,
    JobQuery,
    NotFound,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
)
from opsjobs.client.calls import Call
from opsjobs.client.retry import retry_delay


def test_no_credentials_is_unauthorized(server):
    with Client(server.base) as anyone, pytest.raises(Unauthorized) as refused:
        anyone.current_user()
    error = refused.value
    assert (error.status, error.code, error.detail) == (401, "Unauthorized", "Not logged in.")
    assert '"errorCode":3' in error.message.replace(" ", "")  # SAYMON's inner document


def test_a_wrong_password_is_invalid_credentials(server):
    with server.client((VIEWER[0], "not-the-password")) as wrong:
        with pytest.raises(InvalidCredentials) as refused:
            wrong.current_user()
    assert isinstance(refused.value, Unauthorized)  # both 401s are caught as one
    assert refused.value.detail == "Invalid login or password."
    assert "not-the-password" not in str(refused.value)


def test_what_the_caller_may_not_see_is_not_found(server):
    hidden = server.objects["hidden"]
    operation = {"name": "h", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    with server.client() as admin:
        made = admin.create_operation("object", hidden, operation)
        hidden_job = admin.execute(hidden, made["id"])
    with server.client(VIEWER) as viewer:
        with pytest.raises(NotFound) as refused:
            viewer.get_job(hidden_job)
        assert refused.value.message == f"Entity not found: Job({hidden_job})"
        with pytest.raises(NotFound):
            viewer.object_jobs(server.objects["hidden"])


def test_a_missing_permission_is_forbidden(server):
    with server.client(VIEWER) as viewer, pytest.raises(Forbidden) as refused:
        viewer.create_entity("object", {"name": "nope", "parent_id": server.objects["site"]})
    assert refused.value.status == 403 and "create-objects" in refused.value.detail


def test_a_malformed_value_is_a_bad_request(server):
    with server.client() as admin:
        with pytest.raises(BadRequest) as refused:
            admin.object_jobs(server.objects["web-1"], JobQuery(limit=-1))
        assert "limit" in refused.value.detail
        with pytest.raises(BadRequest) as refused:
            admin.execute(server.objects["web-1"], server.operations["Greet"], {"nme": "x"})
        assert "nme" in refused.value.detail


def test_hostile_ids_stay_one_path_segment(server):
    with server.client() as admin:
        for hostile in ("a/b", "../users", "%2e%2e", "x?auth-token=1", "#frag"):
            with pytest.raises(NotFound) as refused:
                admin.get_job(hostile)
            assert refused.value.message.startswith(("Entity not found: Job(", "Route not found"))
        for empty in ("", ".", ".."):
            with pytest.raises(ValueError):
                admin.get_job(empty)


def test_every_refusal_is_an_api_error_with_its_code(server):
    with server.client() as admin:
        with pytest.raises(ApiError) as refused:
            admin.get_entity("group", "anything")  # groups have no GET by ID
    assert refused.value.code in ("ResourceNotFound", "MethodNotAllowed")


def test_a_server_out_of_reach_is_a_transport_error_after_retries_when_safe():
    with Client(f"http://127.0.0.1:{free_port()}", login=ADMIN[0], password=ADMIN[1]) as c:
        started = time.monotonic()
        with pytest.raises(TransportError) as failed:
            c.ping()  # a GET: tried again, 0.2 + 0.4 + 0.8 s apart
        assert time.monotonic() - started >= 1.4
        assert "/node/api/ping" in str(failed.value) and ADMIN[1] not in str(failed.value)
        started = time.monotonic()
        with pytest.raises(TransportError):
            c.execute("1", "op")  # could run twice: sent once
        assert time.monotonic() - started < 1.0
        started = time.monotonic()
        with pytest.raises(TransportError):
            c.execute("1", "op", idempotency_key="k-1")  # the key makes it safe to resend
        assert time.monotonic() - started >= 1.4


def test_what_is_sent_again():
    get, post = Call("GET", "/jobs/x"), Call("POST", "/objects")
    keyed = Call("POST", "/objects/1/operations/2/execute", headers={"Idempotency-Key": "k"})
    busy = ServiceUnavailable(503, "ServiceUnavailable", "down", retry_after=5)
    broken = TransportError("reset", retriable=True)
    assert retry_delay(get, busy, 0) == 5 and retry_delay(keyed, busy, 2) == 5
    assert retry_delay(get, busy, 3) is None and retry_delay(post, busy, 0) is None
    assert retry_delay(get, broken, 1) == 0.4
    assert retry_delay(get, TransportError("timed out"), 0) is None
    assert retry_delay(get, NotFound(404, "ResourceNotFound", "x"), 0) is None


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org", "http://", "http://user:pw@example.org", "https://h/?q=1", "example.org"],
)
def test_an_unusable_url_is_refused_before_any_request(url):
    with pytest.raises(ConfigError):
        Client(url)


def test_credentials_are_one_kind_or_the_other():
    with pytest.raises(ConfigError):
        Client("http://h", login="a")
    with pytest.raises(ConfigError):
        Client("http://h", login="a", password="b", token="c")
