"""Alerts that set states (docs/api.md, "Alerts that set states"): Prometheus Alertmanager's
webhook payload (version 4) read into alerts, and the state each alert sets.

A payload is refused whole (BadRequest naming the field) when it is not one: not an object,
``alerts`` not an array, more than ``ALERTS_MAX`` of them, a ``version`` other than "4". An
alert in it that is not one (no ``status`` of firing or resolved, ``labels`` not an object,
no label naming its entity, a label value too long) is reported malformed on its own, and
the others still count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from .entity_fields import DISCOVERY_PREFIX
from .errors import BadRequest

ALERTS_MAX: Final = 1000
# A label naming an entity: longer than any ID or discovery ID opsjobs keeps.
ENTITY_LABEL_MAX: Final = 255
FINGERPRINT_MAX: Final = 64
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    fingerprint: str | None
    status: str  # FIRING or RESOLVED
    entity_id: str | None  # the ID label's value, if given
    discovery_id: str | None  # else the discovery ID label's
    alertname: str | None
    severity: str | None

    @property
    def entity(self) -> str:
        """The entity as the alert names it, for the answer."""
        if self.entity_id is not None:
            return self.entity_id
        return DISCOVERY_PREFIX + (self.discovery_id or "")


@dataclass(frozen=True, slots=True)
class Malformed:
    fingerprint: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class AlertLabels:
    """The label names that name an alert's entity (settings)."""

    entity_id: str
    discovery_id: str


@dataclass(frozen=True, slots=True)
class AlertStates:
    """Which state an alert sets: a firing one by its ``alertname`` label, else its
    ``severity`` label, else ``default``; a resolved one ``resolved``."""

    severity: Mapping[str, int]
    alertname: Mapping[str, int]
    default: int
    resolved: int

    @classmethod
    def from_text(cls, text: str) -> AlertStates:
        """From the setting's text, which config.py checked when it was read."""
        value = orjson.loads(text)
        return cls(value["severity"], value["alertname"], value["default"], value["resolved"])

    def state_for(self, alert: Alert) -> int:
        if alert.status == RESOLVED:
            return self.resolved
        if alert.alertname is not None and alert.alertname in self.alertname:
            return self.alertname[alert.alertname]
        if alert.severity is not None and alert.severity in self.severity:
            return self.severity[alert.severity]
        return self.default


def _fingerprint(value: Any) -> str | None:
    # Echoed in the answer: only a short printable one.
    if isinstance(value, str) and len(value) <= FINGERPRINT_MAX and value.isprintable():
        return value
    return None


def _label(labels: Mapping[str, Any], name: str) -> str | None:
    value = labels.get(name)
    return value if isinstance(value, str) else None


def read_alert(value: Any, labels: AlertLabels) -> Alert | Malformed:
    """One alert of a payload, or why it is not one."""
    if not isinstance(value, Mapping):
        return Malformed(None, "an alert must be an object")
    fingerprint = _fingerprint(value.get("fingerprint"))
    if value.get("status") not in (FIRING, RESOLVED):
        return Malformed(fingerprint, 'status: must be "firing" or "resolved"')
    found = value.get("labels")
    if not isinstance(found, Mapping):
        return Malformed(fingerprint, "labels: must be an object")
    entity_id = _label(found, labels.entity_id)
    discovery_id = _label(found, labels.discovery_id) if entity_id is None else None
    named = entity_id if entity_id is not None else discovery_id
    if not named:
        return Malformed(
            fingerprint,
            f"labels: {labels.entity_id} or {labels.discovery_id} must name the entity",
        )
    if len(named) > ENTITY_LABEL_MAX:
        return Malformed(
            fingerprint, f"labels: the entity's label is over {ENTITY_LABEL_MAX} characters"
        )
    return Alert(
        fingerprint,
        value["status"],
        entity_id,
        discovery_id,
        _label(found, "alertname"),
        _label(found, "severity"),
    )


def read_payload(payload: Any, labels: AlertLabels) -> list[Alert | Malformed]:
    """Every alert of a webhook payload, in its order; BadRequest when it is not one."""
    if not isinstance(payload, Mapping):
        raise BadRequest("body: must be an Alertmanager webhook payload (an object)")
    if "version" in payload and payload["version"] != "4":
        raise BadRequest('version: must be "4" (Alertmanager\'s webhook payload)')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise BadRequest("alerts: must be an array")
    if len(alerts) > ALERTS_MAX:
        raise BadRequest(f"alerts: at most {ALERTS_MAX} alerts in one payload")
    return [read_alert(alert, labels) for alert in alerts]
