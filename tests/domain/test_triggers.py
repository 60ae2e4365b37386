"""What a valid state trigger is (domain/triggers.py): every refusal names its field, every
bound holds at its edge, and what is kept is normalised."""

from __future__ import annotations

import pytest

from opsjobs.domain.errors import BadRequest
from opsjobs.domain.triggers import (
    DURATION_MAX_MS,
    EXEC_ARGS_MAX,
    ID_MAX,
    RECIPIENTS_MAX,
    TEXT_MAX,
    TRIGGERS_MAX,
    duration_ms,
    operations_named,
    period_ms,
    runs_programs,
    validate_triggers,
)

MAIL = {"type": "e-mail", "states": [5], "payload": {"to": "ops@example.com"}}


def refusal(body) -> str:
    with pytest.raises(BadRequest) as caught:
        validate_triggers(body)
    return caught.value.message


def one(trigger: dict) -> dict:
    return validate_triggers([trigger])[0]


# -- normalisation --------------------------------------------------------------------------


def test_what_is_kept_is_normalised():
    kept = one(
        {
            "type": "e-mail",
            "states": ["5", 4, 5, "4"],
            "payload": {"to": "a@example.com", "cc": ["b@example.com"], "subject": "dropped"},
            "duration": 0,
            "periodicity": {"value": 10, "unit": "hours", "extra": True},
            "unknown": "dropped",
        }
    )
    assert kept == {
        "type": "e-mail",
        "states": [5, 4],  # integers, each once, in the order sent
        "payload": {"to": "a@example.com", "cc": ["b@example.com"]},
        "duration": 0,
        "periodicity": {"value": "10", "unit": "hours"},
    }
    assert list(kept) == ["type", "states", "payload", "duration", "periodicity"]


def test_absent_and_null_optionals_are_left_out():
    assert one({**MAIL, "duration": None, "periodicity": None}) == MAIL
    script = one({"type": "script", "states": [8], "payload": {"execPath": "/x", "execArgs": None}})
    assert script == {"type": "script", "states": [8], "payload": {"execPath": "/x"}}


@pytest.mark.parametrize(
    ("trigger", "payload"),
    [
        ({"type": "operation", "payload": {"operation": "abc", "x": 1}}, {"operation": "abc"}),
        (
            {"type": "script", "payload": {"execPath": "/p", "execArgs": ["", "-x"], "env": {}}},
            {"execPath": "/p", "execArgs": ["", "-x"]},
        ),
        (
            {"type": "sms", "payload": {"phone": "+7 (495) 123-45-67"}},
            {"phone": "+7 (495) 123-45-67"},
        ),
        ({"type": "voiceCall", "payload": {"phone": "5550100", "text": "x"}}, {"phone": "5550100"}),
    ],
)
def test_each_type_keeps_its_own_payload_keys(trigger, payload):
    assert one({**trigger, "states": [5]})["payload"] == payload


def test_the_empty_list_is_valid():
    assert validate_triggers([]) == []


# -- bounds at their edges ------------------------------------------------------------------


def test_bounds_hold_at_their_edges():
    assert len(validate_triggers([MAIL] * TRIGGERS_MAX)) == TRIGGERS_MAX
    assert "at most 100 triggers" in refusal([MAIL] * (TRIGGERS_MAX + 1))
    assert one({**MAIL, "duration": DURATION_MAX_MS})["duration"] == DURATION_MAX_MS
    assert refusal([{**MAIL, "duration": DURATION_MAX_MS + 1}]).startswith("triggers[0].duration:")
    assert one({**MAIL, "periodicity": {"value": "366", "unit": "days"}})
    assert one({**MAIL, "periodicity": {"value": "527040", "unit": "minutes"}})  # 366 days
    assert refusal([{**MAIL, "periodicity": {"value": "527041", "unit": "minutes"}}]) == (
        "triggers[0].periodicity: must be at most 366 days"
    )
    to = [f"u{n}@example.com" for n in range(RECIPIENTS_MAX)]
    assert one({**MAIL, "payload": {"to": to}})["payload"]["to"] == to
    assert refusal([{**MAIL, "payload": {"to": [*to, "x@example.com"]}}]).startswith(
        "triggers[0].payload.to: must be an e-mail address or an array of 1 to 50"
    )
    args = ["a"] * EXEC_ARGS_MAX
    script = {"type": "script", "states": [5], "payload": {"execPath": "/p", "execArgs": args}}
    assert one(script)["payload"]["execArgs"] == args
    script["payload"]["execArgs"] = [*args, "a"]
    assert refusal([script]).startswith("triggers[0].payload.execArgs: must be an array")
    assert one({**script, "payload": {"execPath": "x" * TEXT_MAX}})
    assert refusal([{**script, "payload": {"execPath": "x" * (TEXT_MAX + 1)}}]).startswith(
        "triggers[0].payload.execPath:"
    )
    operation = {"type": "operation", "states": [5], "payload": {"operation": "o" * ID_MAX}}
    assert one(operation)
    operation["payload"]["operation"] = "o" * (ID_MAX + 1)
    assert refusal([operation]).startswith("triggers[0].payload.operation:")


# -- every refusal names its field ----------------------------------------------------------

REFUSALS = [
    (None, "triggers: must be an array"),
    ({}, "triggers: must be an array"),
    ("[]", "triggers: must be an array"),
    ([None], "triggers[0]: must be an object"),
    ([MAIL, []], "triggers[1]: must be an object"),
    ([{**MAIL, "type": "E-MAIL"}], "triggers[0].type: must be one of operation, script"),
    ([{k: v for k, v in MAIL.items() if k != "type"}], "triggers[0].type: must be one of"),
    ([{**MAIL, "states": None}], "triggers[0].states: must be a non-empty array"),
    ([{**MAIL, "states": "5"}], "triggers[0].states: must be a non-empty array"),
    ([{**MAIL, "states": [5, 2]}], "triggers[0].states[1]: unknown state; one of 1 (Created)"),
    ([{**MAIL, "states": [0]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": [10]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": [5.0]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": [True]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": ["05x"]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": ["1" * 11]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "states": [-5]}], "triggers[0].states[0]: unknown state"),
    ([{**MAIL, "duration": -1}], "triggers[0].duration: must be a number of milliseconds"),
    ([{**MAIL, "duration": 1.5}], "triggers[0].duration: must be a number of milliseconds"),
    ([{**MAIL, "duration": True}], "triggers[0].duration: must be a number of milliseconds"),
    ([{**MAIL, "duration": "100"}], "triggers[0].duration: must be a number of milliseconds"),
    ([{**MAIL, "periodicity": []}], "triggers[0].periodicity: must be an object"),
    ([{**MAIL, "periodicity": {"value": "1"}}], "triggers[0].periodicity.unit: must be one of"),
    ([{**MAIL, "periodicity": {"value": "1", "unit": "seconds"}}], "periodicity.unit: must be"),
    ([{**MAIL, "periodicity": {"unit": "days"}}], "triggers[0].periodicity.value: must be a"),
    ([{**MAIL, "periodicity": {"value": 0, "unit": "days"}}], "periodicity.value: must be a"),
    ([{**MAIL, "periodicity": {"value": -1, "unit": "days"}}], "periodicity.value: must be a"),
    ([{**MAIL, "periodicity": {"value": "01", "unit": "days"}}], "periodicity.value: must be a"),
    ([{**MAIL, "periodicity": {"value": "1e3", "unit": "days"}}], "periodicity.value: must be"),
    ([{**MAIL, "periodicity": {"value": 1.0, "unit": "days"}}], "periodicity.value: must be a"),
    ([{**MAIL, "periodicity": {"value": " 1", "unit": "days"}}], "periodicity.value: must be a"),
    ([{**MAIL, "payload": None}], "triggers[0].payload: must be an object"),
    ([{**MAIL, "payload": {}}], "triggers[0].payload.to: must be an e-mail address or an array"),
    ([{**MAIL, "payload": {"to": 5}}], "triggers[0].payload.to: must be an e-mail address"),
    ([{**MAIL, "payload": {"to": [5]}}], "triggers[0].payload.to[0]: not an e-mail address"),
    ([{**MAIL, "payload": {"to": "a@b.c\r\nBcc: x@y.z"}}], "triggers[0].payload.to: not an"),
    ([{**MAIL, "payload": {"to": "a@b.c\nBcc: x@y.z"}}], "triggers[0].payload.to: not an"),
    ([{**MAIL, "payload": {"to": "a@b.c\rx"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c\x00"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c,x@y.z"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c;x@y.z"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "<a@b.c>"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": '"a b"@c.d'}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a @b.c"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "ab.c"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@-b.c"}}], "triggers[0].payload.to: not an e-mail"),
    ([{**MAIL, "payload": {"to": "a@b.c", "cc": ["ok@b.c", "a@b.c\r\nX: y"]}}], "cc[1]: not an"),
    ([{**MAIL, "payload": {"to": "a@b.c", "cc": []}}], "triggers[0].payload.cc: must be an"),
    ([{"type": "sms", "states": [5], "payload": {}}], "triggers[0].payload.phone: must be a"),
    ([{"type": "sms", "states": [5], "payload": {"phone": 5550100}}], "payload.phone: must be"),
    ([{"type": "sms", "states": [5], "payload": {"phone": "555\r\n0100"}}], "payload.phone:"),
    ([{"type": "sms", "states": [5], "payload": {"phone": "1"}}], "payload.phone: must be a"),
    ([{"type": "sms", "states": [5], "payload": {"phone": "+" + "1" * 40}}], "payload.phone:"),
    ([{"type": "voiceCall", "states": [5], "payload": {"phone": "+1-555-CALL"}}], "phone:"),
    ([{"type": "operation", "states": [5], "payload": {"operation": ""}}], "payload.operation:"),
    ([{"type": "operation", "states": [5], "payload": {"operation": 7}}], "payload.operation:"),
    ([{"type": "script", "states": [5], "payload": {}}], "triggers[0].payload.execPath: must be"),
    ([{"type": "script", "states": [5], "payload": {"execPath": "a\x00"}}], "execPath: must not"),
    (
        [{"type": "script", "states": [5], "payload": {"execPath": "/p", "execArgs": "a b"}}],
        "triggers[0].payload.execArgs: must be an array",
    ),
    (
        [{"type": "script", "states": [5], "payload": {"execPath": "/p", "execArgs": ["\x00"]}}],
        "triggers[0].payload.execArgs[0]: must not contain NUL",
    ),
    (
        [{"type": "script", "states": [5], "payload": {"execPath": "/p", "execArgs": [None]}}],
        "triggers[0].payload.execArgs[0]: must be a string",
    ),
]


@pytest.mark.parametrize(("body", "names"), REFUSALS)
def test_every_refusal_names_its_field(body, names):
    assert names in refusal(body)


def test_the_field_is_named_where_the_caller_sent_it():
    with pytest.raises(BadRequest) as caught:
        validate_triggers([MAIL, {**MAIL, "states": [3]}, {**MAIL, "states": [99]}], "body")
    assert caught.value.message.startswith("body[2].states[0]: unknown state")


# -- what the rest of the code reads --------------------------------------------------------


def test_timing_and_what_runs():
    kept = validate_triggers(
        [
            {**MAIL, "duration": 60_000, "periodicity": {"value": "2", "unit": "hours"}},
            {"type": "operation", "states": [5], "payload": {"operation": "op1"}},
            {"type": "operation", "states": [8], "payload": {"operation": "op2"}},
        ]
    )
    assert duration_ms(kept[0]) == 60_000 and duration_ms(kept[1]) == 0
    assert period_ms(kept[0]) == 7_200_000 and period_ms(kept[1]) is None
    assert operations_named(kept) == {"op1", "op2"}
    assert not runs_programs(kept)
    assert runs_programs(
        [*kept, one({"type": "script", "states": [5], "payload": {"execPath": "/p"}})]
    )
