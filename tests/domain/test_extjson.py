"""The extended-JSON reader (domain/extjson.py) on its own: what ``mongoexport`` writes becomes
plain values, and what it never writes is refused with ValueError or TypeError (the errors
``opsjobs jobs import`` reports per line), never anything that would end an import."""

from __future__ import annotations

import math
import os
import time

import orjson
import pytest

from opsjobs.domain.extjson import MAX_NESTING, plain

OID = "65a0c0ffee0000000000beef"


def test_each_wrapper_becomes_its_plain_value():
    assert plain({"$oid": OID}) == OID
    assert plain({"$numberInt": "-5"}) == -5
    assert plain({"$numberDouble": "1.5"}) == 1.5
    # Past a float's 53 bits, exactly.
    assert plain({"$numberLong": "9007199254740993"}) == 9007199254740993


@pytest.mark.parametrize(
    ("date", "ms"),
    [
        ("2024-01-02T03:04:05.678Z", 1704164645678),
        ("2024-01-02T05:04:05.678+02:00", 1704164645678),
        ("1970-01-01T00:00:00Z", 0),
        ({"$numberLong": "1704164645678"}, 1704164645678),
        ({"$numberInt": "5"}, 5),
        (1704164645678, 1704164645678),
        (1704164645678.9, 1704164645678),
    ],
)
def test_dates_in_every_spelling_are_milliseconds_since_the_epoch(date, ms):
    assert plain({"$date": date}) == ms


def test_every_millisecond_of_a_second_is_read_exactly():
    for ms in range(1000):
        assert plain({"$date": f"2038-01-19T03:14:07.{ms:03d}Z"}) == 2147483647000 + ms


def test_a_date_without_a_zone_is_utc_whatever_the_host_zone_is():
    before = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "Asia/Kathmandu"  # +05:45: no hour-sized shift hides the bug
        time.tzset()
        assert plain({"$date": "2024-01-02T03:04:05.678"}) == 1704164645678
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_wrappers_are_replaced_at_any_depth_and_plain_values_are_kept():
    document = {
        "_id": {"$oid": OID},
        "timestamp": {"$date": "1970-01-01T00:00:01Z"},
        "results": [{"count": {"$numberLong": "7"}, "at": [{"$date": 2}]}, "text", 3, None],
        "description": {"exitCode": 0, "nested": {"deeper": [{"$numberDouble": "-0.5"}]}},
    }
    assert plain(document) == {
        "_id": OID,
        "timestamp": 1000,
        "results": [{"count": 7, "at": [2]}, "text", 3, None],
        "description": {"exitCode": 0, "nested": {"deeper": [-0.5]}},
    }


def test_unknown_keys_and_wrappers_with_company_pass_through_unchanged():
    for value in (
        {"$binary": {"base64": "AA==", "subType": "00"}},
        {"$regex": "^a", "$options": "i"},
        {"$oid": OID, "name": "two keys: not a wrapper"},
        {"$date": "2024-01-02T03:04:05Z", "$comment": "neither"},
        {"oid": OID},
        {},
        [],
    ):
        assert plain(value) == value


def test_a_document_that_holds_no_wrapper_is_returned_equal():
    document = orjson.loads(b'{"a": [1, 2.5, "x", null, true, {"b": {"c": []}}]}')
    assert plain(document) == document


@pytest.mark.parametrize(
    "value",
    [
        {"$date": "yesterday"},
        {"$date": "2024-13-01T00:00:00Z"},
        {"$date": "2024-01-02T03:04:05.678Q"},
        {"$date": ""},
        {"$date": None},
        {"$date": True},
        {"$date": [1704164645678]},
        {"$date": {"$numberLong": "soon"}},
        {"$date": {"$numberDouble": "Infinity"}},
        {"$date": {"$numberDouble": "NaN"}},
        {"$date": {"$date": "2024-01-02T03:04:05Z"}},
        {"$date": {"$oid": OID}},
        {"$date": {"when": 1}},
        {"$numberLong": "12a"},
        {"$numberLong": "1e3"},
        {"$numberLong": "9" * 5000},
        {"$numberInt": ""},
        {"$numberDouble": "one"},
        {"$oid": 12},
        {"$oid": {"nested": OID}},
        {"$oid": None},
    ],
)
def test_what_mongoexport_never_writes_is_refused(value):
    with pytest.raises((ValueError, TypeError)):
        plain(value)
    with pytest.raises((ValueError, TypeError)):
        plain({"results": [{"deep": value}]})


def test_an_infinite_double_is_kept_as_a_float_that_json_writes_as_null():
    # Not a date and not an ID: the value itself, which the row's JSON text writes as null.
    value = plain({"x": {"$numberDouble": "Infinity"}, "y": {"$numberDouble": "NaN"}})
    assert value["x"] == math.inf and math.isnan(value["y"])
    assert orjson.loads(orjson.dumps(value)) == {"x": None, "y": None}


def _nested(levels: int):
    value: object = {"$numberLong": "1"}
    for n in range(levels):
        value = [value] if n % 2 else {"k": value}
    return value


def test_nesting_up_to_the_bound_is_read_and_deeper_is_refused_not_a_crash():
    inner = plain(_nested(MAX_NESTING))
    for _ in range(MAX_NESTING):
        inner = inner[0] if isinstance(inner, list) else inner["k"]
    assert inner == 1
    # Nearly as deep as orjson reads (1024): a ValueError, not a RecursionError.
    too_deep = orjson.loads(b"[" * 1000 + b'{"$numberLong": "1"}' + b"]" * 1000)
    with pytest.raises(ValueError, match="nested deeper than"):
        plain(too_deep)
