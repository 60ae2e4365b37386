"""Alertmanager's payload read into alerts (domain/alerts.py), and the state each sets."""

from __future__ import annotations

import pytest

from opsjobs.config import DEFAULT_ALERT_STATES
from opsjobs.domain.alerts import (
    ALERTS_MAX,
    Alert,
    AlertLabels,
    AlertStates,
    Malformed,
    read_alert,
    read_payload,
)
from opsjobs.domain.errors import BadRequest

LABELS = AlertLabels("opsjobs_id", "opsjobs_discovery_id")
STATES = AlertStates.from_text(
    '{"severity": {"critical": 5, "warning": 4}, "alertname": {"DiskFull": 8},'
    ' "default": 7, "resolved": 3}'
)


def _alert(status="firing", **labels) -> Alert:
    found = read_alert({"status": status, "labels": labels, "fingerprint": "f"}, LABELS)
    assert isinstance(found, Alert), found
    return found


def test_the_state_by_alert_name_then_severity_then_default():
    assert STATES.state_for(_alert(opsjobs_id="a", alertname="DiskFull", severity="warning")) == 8
    assert STATES.state_for(_alert(opsjobs_id="a", alertname="Other", severity="warning")) == 4
    assert STATES.state_for(_alert(opsjobs_id="a", severity="info")) == 7
    assert STATES.state_for(_alert("resolved", opsjobs_id="a", alertname="DiskFull")) == 3


def test_the_default_setting_reads():
    states = AlertStates.from_text(DEFAULT_ALERT_STATES)
    assert (states.severity["critical"], states.default, states.resolved) == (5, 5, 3)


def test_the_id_label_wins_over_the_discovery_label():
    alert = _alert(opsjobs_id="a", opsjobs_discovery_id="d")
    assert (alert.entity_id, alert.discovery_id, alert.entity) == ("a", None, "a")
    alert = _alert(opsjobs_discovery_id="d")
    assert (alert.entity_id, alert.entity) == (None, "discovery id:d")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("alert", "an alert must be an object"),
        ({"status": "ok", "labels": {"opsjobs_id": "a"}}, "status"),
        ({"status": "firing", "labels": "opsjobs_id=a"}, "labels: must be an object"),
        ({"status": "firing", "labels": {}}, "must name the entity"),
        ({"status": "firing", "labels": {"opsjobs_id": ""}}, "must name the entity"),
        ({"status": "firing", "labels": {"opsjobs_id": ["a"]}}, "must name the entity"),
        ({"status": "firing", "labels": {"opsjobs_id": "a" * 256}}, "over 255"),
    ],
)
def test_a_malformed_alert_says_why(value, said):
    found = read_alert(value, LABELS)
    assert isinstance(found, Malformed) and said in found.reason


@pytest.mark.parametrize("fingerprint", [None, 7, "x" * 65, "a\nb", "\u202e"])
def test_only_a_short_printable_fingerprint_is_echoed(fingerprint):
    value = {"status": "firing", "labels": {"opsjobs_id": "a"}, "fingerprint": fingerprint}
    assert read_alert(value, LABELS).fingerprint is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({}, "alerts"),
        ({"alerts": {}}, "alerts"),
        ({"version": 4, "alerts": []}, "version"),
        ({"alerts": [{}] * (ALERTS_MAX + 1)}, "alerts: at most"),
    ],
)
def test_a_payload_that_is_not_one_is_refused_whole(payload, field):
    with pytest.raises(BadRequest) as caught:
        read_payload(payload, LABELS)
    assert caught.value.message.startswith(field)


def test_a_payload_keeps_its_order():
    found = read_payload(
        {"version": "4", "alerts": [{"status": "firing", "labels": {"opsjobs_id": "a"}}, 1]},
        LABELS,
    )
    assert isinstance(found[0], Alert) and isinstance(found[1], Malformed)
