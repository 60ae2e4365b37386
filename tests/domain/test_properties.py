"""Properties and entity fields as pure rules (domain/properties.py, domain/entity_fields.py)."""

from __future__ import annotations

import pytest

from opsjobs.domain import properties as props
from opsjobs.domain.entity_fields import class_id, discovery_ref
from opsjobs.domain.errors import BadRequest
from opsjobs.domain.ids import is_object_id


def test_both_input_forms_give_the_same_entries():
    as_object = props.from_input({"ip": "10.0.0.1", "port": 22})
    as_array = props.from_input(
        [{"name": "ip", "value": "10.0.0.1"}, {"name": "port", "value": 22}]
    )
    assert (
        as_object
        == as_array
        == [
            {"name": "ip", "value": "10.0.0.1", "type_id": 1},
            {"name": "port", "value": 22, "type_id": 1},
        ]
    )


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ("ip=1", "properties: must be an array"),
        ([1], "properties.0: must be an object"),
        ([{"name": "a"}, {"name": "a"}], "properties: duplicate property name 'a'"),
        ([{"name": "a", "extra": 1}], "properties.0.extra: unknown field"),
        ([{"name": "a", "type_id": True}], "properties.0.type_id"),
        ([{"name": "a", "value": {}}], "properties.0.value: must be a string"),
        ({"a\x07": "v"}, "properties.a\x07: must not contain U+0007"),
    ],
)
def test_refusals_name_the_place(sent, named):
    with pytest.raises(BadRequest) as refused:
        props.from_input(sent)
    assert refused.value.message.startswith(named), refused.value.message


def test_a_property_that_keeps_its_name_keeps_its_id():
    before = props.with_ids(props.from_input({"a": 1, "b": 2}), [])
    assert all(is_object_id(r["id"]) for r in before)
    after = props.with_ids(props.from_input({"b": 3, "c": 4}), before)
    assert after[0]["id"] == before[1]["id"]
    assert after[1]["id"] not in {r["id"] for r in before}


def test_stored_reads_every_older_form():
    records = props.stored([{"name": "x", "value": 1, "type_id": "3"}, {"name": "x"}, "junk"])
    assert [(r["name"], r["value"], r["type_id"]) for r in records] == [("x", 1, 1)]
    assert props.stored({"k": "v"})[0]["name"] == "k"
    current = props.with_ids(props.from_input({"k": "v"}), [])
    assert props.stored(current) == current


def test_read_write_changes_and_service_touches():
    rw = {"id": "1", "name": "mode", "value": "a", "type_id": props.READ_WRITE}
    info = {"id": "2", "name": "note", "value": "a", "type_id": props.INFO}
    service = {"id": "3", "name": "probe", "value": "a", "type_id": props.SERVICE}
    before = [rw, info, service]
    after = [rw | {"value": "b"}, info | {"value": "b"}, service]
    assert props.read_write_changes(before, after) == [(rw | {"value": "b"}, "a")]
    assert props.read_write_changes(before, before) == []
    assert not props.touches_service(before, after)
    assert props.touches_service(before, [rw, info])
    assert props.touches_service(before, [rw, info, service | {"value": "b"}])
    assert props.touches_service([rw], [rw | {"type_id": props.SERVICE}])


def test_class_ids_and_discovery_addresses():
    assert class_id(3) == "3" and class_id("3") == "3" and class_id(None) is None
    with pytest.raises(BadRequest):
        class_id(0)
    assert discovery_ref("discovery id:Qwerty") == "Qwerty"
    assert discovery_ref("6013d0c604ab1a73eda738f5") is None
