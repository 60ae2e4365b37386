"""api/errors.py: the one table from the domain's failures to HTTP, and SAYMON's 401s."""

from __future__ import annotations

import inspect

import orjson
import pytest

from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.api import errors as api_errors
from opsjobs.domain import errors


def _domain_error_classes() -> list[type[errors.OpsjobsError]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.OpsjobsError) and kind is not errors.OpsjobsError
    ]


def test_the_domain_errors_carry_no_http():
    for kind in [errors.OpsjobsError, *_domain_error_classes()]:
        assert not hasattr(kind, "status") and not hasattr(kind, "code"), kind


def test_every_domain_error_has_its_answer():
    assert set(_domain_error_classes()) == set(api_errors.ANSWERS)


@pytest.mark.parametrize(
    "error, status, code, message",
    [
        (errors.BadRequest("x: bad"), 400, "BadRequest", "x: bad"),
        (errors.InvalidContent("not JSON"), 400, "InvalidContent", "not JSON"),
        (errors.Forbidden.needs("a", "b"), 403, "Forbidden", "Required permissions: a or b"),
        (errors.NotFound.entity("Job", "j"), 404, "ResourceNotFound", "Entity not found: Job(j)"),
        (errors.Conflict("taken"), 409, "Conflict", "taken"),
        (errors.RequestTimeout("slow"), 408, "RequestTimeout", "slow"),
        (errors.PayloadTooLarge("big"), 413, "PayloadTooLarge", "big"),
        (errors.TooManyRequests(7), 429, "TooManyRequests", "Too many failed logins; retry in 7 s"),
        (errors.OpsjobsError("what"), 500, "Internal", "what"),
    ],
)
def test_each_failure_answers_its_status_code_and_message(error, status, code, message):
    response = api_errors.answer(error)
    assert response.status_code == status
    assert orjson.loads(response.body) == {"code": code, "message": message}


def test_a_subclass_answers_as_its_class():
    class Gone(errors.NotFound):
        pass

    assert api_errors.status_and_code(Gone("x")) == (404, "ResourceNotFound")


def test_a_401_message_is_saymons_json_in_the_message():
    for error, code, text in [
        (errors.Unauthorized("Not logged in."), "Unauthorized", "Not logged in."),
        (errors.InvalidCredentials(), "InvalidCredentials", "Invalid login or password."),
    ]:
        assert error.message == text  # the domain's message is plain text
        response = api_errors.answer(error)
        assert response.status_code == 401
        body = orjson.loads(response.body)
        assert body["code"] == code
        assert orjson.loads(body["message"]) == {"errorCode": 3, "message": text}


def test_too_many_requests_says_when_to_retry():
    assert api_errors.answer(errors.TooManyRequests(12)).headers["retry-after"] == "12"
