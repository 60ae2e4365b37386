"""The words of a trigger message (execution/notice.py): every field of the templates has a
value, values are one line, the subject one bounded line, the time ISO 8601 in UTC."""

from __future__ import annotations

from opsjobs.config import NOTIFY_FIELDS, Settings
from opsjobs.execution.notice import SUBJECT_MAX, fields, iso_time, notice, one_line
from opsjobs.store.outbox import ClaimedDelivery, Facts

DELIVERY = ClaimedDelivery(
    id="d1",
    type="sms",
    recipient='{"phone": "+15550100"}',
    owner_id="l1",
    owner_type=2,
    change_id="c1",
    due_at=0,
    fired_at=1_800_000_000_999,
    late=False,
    attempts=1,
)


def test_every_field_a_template_may_name_has_a_value():
    values = fields(DELIVERY, Facts("uplink", 8, 3, 1_800_000_000_123))
    assert set(values) == set(NOTIFY_FIELDS)
    assert values == {
        "entity_kind": "link",
        "entity_id": "l1",
        "entity_name": "uplink",
        "state": "Down",
        "state_id": "8",
        "previous_state": "Working",
        "previous_state_id": "3",
        "time": "2027-01-15T08:00:00.123Z",
        "time_ms": "1800000000123",
        "trigger_type": "sms",
        "delivery_id": "d1",
    }


def test_without_a_recorded_change_the_time_is_the_firings():
    values = fields(DELIVERY, Facts(None, 42, None, None))
    assert values["entity_name"] == "(deleted)"
    assert (values["state"], values["previous_state"], values["previous_state_id"]) == (
        "state 42",
        "none",
        "",
    )
    assert values["time"] == iso_time(DELIVERY.fired_at) == "2027-01-15T08:00:00.999Z"


def test_values_are_one_line_and_the_subject_is_bounded():
    settings = Settings(
        notify_subject="$entity_name $entity_name", notify_template="[$entity_name]"
    )
    name = "a\r\nb\u2028c\x85d" + "n" * 400
    words = notice(settings, DELIVERY, Facts(name, 5, 1, 0))
    assert "\n" not in words.subject and "\r" not in words.subject
    assert len(words.subject) == SUBJECT_MAX
    assert words.text.startswith("[a  b c d")
    assert one_line("x\ty") == "x y"
