"""``parameters.setsState`` (domain/sets_state.py): what a valid mapping is, refusals naming
the field, and which state each way a run can end sets."""

from __future__ import annotations

import pytest

from opsjobs.domain.errors import BadRequest
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.operations import apply_update, render_spec, validate_new
from opsjobs.domain.sets_state import EXIT_CODES_MAX, state_after, validate
from opsjobs.domain.spec import dump_spec, load_spec
from opsjobs.domain.templates import Values

SCRIPT = {"type": "scriptText", "text": "exit 1"}
CHECK = {"exitCodes": {"0": 3, "1": 4}, "otherwise": 5, "timeout": 5}


def _operation(op_type: int, parameters: dict) -> dict:
    return {"name": "check", "type": op_type, "parameters": parameters}


def test_a_valid_mapping_is_kept():
    checked = validate_new(_operation(2, {**SCRIPT, "setsState": CHECK}))
    assert checked["parameters"]["setsState"] == CHECK
    mqtt = {"topic": "t", "message": "m", "setsState": {"published": 3, "failed": 8}}
    assert validate_new(_operation(1, mqtt))["parameters"]["setsState"] == {
        "published": 3,
        "failed": 8,
    }


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, "parameters.setsState"),
        ([], "parameters.setsState"),
        ({}, "parameters.setsState"),
        ({"published": 3}, "parameters.setsState.published"),
        ({"otherwise": 2}, "parameters.setsState.otherwise"),  # 2 is no built-in state
        ({"otherwise": 42}, "parameters.setsState.otherwise"),
        ({"otherwise": "5"}, "parameters.setsState.otherwise"),
        ({"otherwise": True}, "parameters.setsState.otherwise"),
        ({"timeout": 5.0}, "parameters.setsState.timeout"),
        ({"exitCodes": {}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": [3]}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"256": 3}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"-1": 3}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"01": 3}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"１": 3}}, "parameters.setsState.exitCodes"),  # a full-width digit
        ({"exitCodes": {"0\x00": 3}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"../1": 3}}, "parameters.setsState.exitCodes"),
        ({"exitCodes": {"0": 99}}, "parameters.setsState.exitCodes.0"),
        ({"exitCodes": {str(n): 3 for n in range(EXIT_CODES_MAX + 1)}}, "exitCodes"),
    ],
)
def test_a_bad_mapping_is_a_400_naming_the_field(value, field):
    with pytest.raises(BadRequest) as caught:
        validate_new(_operation(2, {**SCRIPT, "setsState": value}))
    assert field in caught.value.message


def test_mqtt_takes_only_its_own_keys():
    with pytest.raises(BadRequest, match=r"setsState\.exitCodes: not a field of an MQTT"):
        validate(True, {"exitCodes": {"0": 3}})
    with pytest.raises(BadRequest, match=r"setsState\.timeout"):
        validate(True, {"timeout": 5})
    with pytest.raises(BadRequest, match=r"setsState\.x{40}:"):  # a huge key is cut short
        validate(False, {"x" * 10_000: 5})


def test_a_patch_sets_and_removes_the_mapping():
    current = {"id": "a", **validate_new(_operation(2, SCRIPT))}
    changed = apply_update(current, {"parameters": {"setsState": CHECK}})
    assert changed["parameters"]["setsState"] == CHECK
    removed = apply_update({"id": "a", **changed}, {"parameters": {"setsState": None}})
    assert "setsState" not in removed["parameters"]
    with pytest.raises(BadRequest, match="setsState.otherwise"):
        apply_update(current, {"parameters": {"setsState": {"otherwise": 0}}})


@pytest.mark.parametrize(
    ("status", "description", "state"),
    [
        (JobStatus.SUCCEEDED, {"exitCode": 0}, 3),
        (JobStatus.FAILED, {"exitCode": 1}, 4),
        (JobStatus.FAILED, {"exitCode": 2}, 5),
        (JobStatus.FAILED, {"exitCode": 127}, 5),  # could not start
        (JobStatus.TIMEOUT, {"exitCode": 143}, 5),
        (JobStatus.CANCELLED, {"exitCode": 143}, None),
        (JobStatus.LOST, {}, None),
    ],
)
def test_which_state_an_end_sets(status, description, state):
    assert state_after(CHECK, status, description) == state


def test_an_end_no_key_names_sets_nothing():
    assert state_after({"timeout": 5}, JobStatus.FAILED, {"exitCode": 1}) is None
    assert state_after({"exitCodes": {"0": 3}}, JobStatus.TIMEOUT, {"exitCode": 143}) is None
    mqtt = {"published": 3, "failed": 5}
    assert state_after(mqtt, JobStatus.SUCCEEDED, {"topic": "t"}) == 3
    assert state_after(mqtt, JobStatus.FAILED, {"topic": "t"}) == 5
    assert state_after({"failed": 5}, JobStatus.SUCCEEDED, {"topic": "t"}) is None


def test_the_spec_carries_the_mapping_and_ordinary_specs_stay_as_they_were():
    plain = validate_new(_operation(2, SCRIPT))
    spec = render_spec(plain, Values(entity_id="o"), default_timeout=30)
    assert "sets_state" not in dump_spec(spec)
    check = validate_new(_operation(2, {**SCRIPT, "setsState": CHECK}))
    spec = render_spec(check, Values(entity_id="o"), default_timeout=30)
    assert load_spec(dump_spec(spec, "req-1")).sets_state == CHECK
