"""State triggers (docs/api.md §18): what a valid one is, and when it fires.

A trigger, as SAYMON's clients send it::

    {"states": [5], "type": "operation", "payload": {"operation": "<op id>"},
     "duration": 60000, "periodicity": {"value": "5", "unit": "minutes"}}

It fires when its entity enters one of ``states`` and is still in it ``duration`` ms later
(absent or 0: at once); with ``periodicity`` it fires again at that interval while the state
holds. What firing does depends on ``type``: ``operation`` and ``script`` run a job,
``e-mail``, ``sms`` and ``voiceCall`` deliver a message.

Everything is checked and normalised here, so what is stored is what runs: states as
integers, unknown payload keys dropped, bounds on every size. A recipient is never header
text: an address or a phone number with anything but its own characters is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .errors import BadRequest
from .states import BUILT_IN

TYPES: Final = ("operation", "script", "e-mail", "sms", "voiceCall")
JOB_TYPES: Final = frozenset({"operation", "script"})
UNITS_MS: Final = {"minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}
TRIGGERS_MAX: Final = 100  # per entity or class
DURATION_MAX_MS: Final = 366 * 86_400_000
PERIOD_MAX_MS: Final = 366 * 86_400_000
EXEC_ARGS_MAX: Final = 256
TEXT_MAX: Final = 4096
RECIPIENTS_MAX: Final = 50
ID_MAX: Final = 64

# An address: no spaces, quotes, angle brackets, commas or line breaks, so that it can
# never add a header or a second recipient to the message it goes into.
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{1,30}[0-9]")
_PERIOD_VALUE = re.compile(r"[1-9][0-9]{0,6}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRequest(message)


def _text(value: Any, where: str, *, empty: bool = False, limit: int = TEXT_MAX) -> str:
    _require(
        isinstance(value, str) and (empty or value != "") and len(value) <= limit,
        f"{where}: must be a {'' if empty else 'non-empty '}string of at most {limit} characters",
    )
    _require("\0" not in value, f"{where}: must not contain NUL characters")
    return value


def _states(value: Any, where: str) -> list[int]:
    _require(isinstance(value, list) and value, f"{where}: must be a non-empty array of state IDs")
    states: list[int] = []
    for n, state in enumerate(value):
        if isinstance(state, str) and state.isdecimal() and len(state) <= 10:
            state = int(state)
        _require(
            type(state) is int and state in BUILT_IN,
            f"{where}[{n}]: unknown state; one of "
            + ", ".join(f"{k} ({v})" for k, v in BUILT_IN.items()),
        )
        if state not in states:
            states.append(state)
    return states


def _duration(value: Any, where: str) -> int:
    _require(
        type(value) is int and 0 <= value <= DURATION_MAX_MS,
        f"{where}: must be a number of milliseconds from 0 to {DURATION_MAX_MS}",
    )
    return value


def _periodicity(value: Any, where: str) -> dict[str, str]:
    _require(isinstance(value, Mapping), f"{where}: must be an object with value and unit")
    unit = value.get("unit")
    _require(unit in UNITS_MS, f"{where}.unit: must be one of " + ", ".join(UNITS_MS))
    amount = value.get("value")
    if type(amount) is int:
        amount = str(amount)
    _require(
        isinstance(amount, str) and _PERIOD_VALUE.fullmatch(amount) is not None,
        f"{where}.value: must be a positive whole number",
    )
    _require(
        int(amount) * UNITS_MS[unit] <= PERIOD_MAX_MS,
        f"{where}: must be at most {PERIOD_MAX_MS // 86_400_000} days",
    )
    return {"value": amount, "unit": unit}


def _recipients(value: Any, where: str) -> str | list[str]:
    """One address or an array of them, as sent (SAYMON's examples send a string)."""
    addresses = [value] if isinstance(value, str) else value
    _require(
        isinstance(addresses, list) and 0 < len(addresses) <= RECIPIENTS_MAX,
        f"{where}: must be an e-mail address or an array of 1 to {RECIPIENTS_MAX} of them",
    )
    for n, address in enumerate(addresses):
        _require(
            isinstance(address, str) and _ADDRESS.fullmatch(address) is not None,
            f"{where}" + ("" if isinstance(value, str) else f"[{n}]") + ": not an e-mail address",
        )
    return value


def _exec_args(value: Any, where: str) -> list[str]:
    _require(
        isinstance(value, list) and len(value) <= EXEC_ARGS_MAX,
        f"{where}: must be an array of at most {EXEC_ARGS_MAX} strings",
    )
    return [_text(arg, f"{where}[{n}]", empty=True) for n, arg in enumerate(value)]


def _payload(kind: str, payload: Any, where: str) -> dict[str, Any]:
    _require(isinstance(payload, Mapping), f"{where}: must be an object")
    if kind == "operation":
        return {"operation": _text(payload.get("operation"), f"{where}.operation", limit=ID_MAX)}
    if kind == "script":
        clean: dict[str, Any] = {"execPath": _text(payload.get("execPath"), f"{where}.execPath")}
        if payload.get("execArgs") is not None:
            clean["execArgs"] = _exec_args(payload["execArgs"], f"{where}.execArgs")
        return clean
    if kind == "e-mail":
        clean = {"to": _recipients(payload.get("to"), f"{where}.to")}
        if payload.get("cc") is not None:
            clean["cc"] = _recipients(payload["cc"], f"{where}.cc")
        return clean
    phone = payload.get("phone")
    _require(
        isinstance(phone, str) and _PHONE.fullmatch(phone) is not None,
        f"{where}.phone: must be a phone number (digits, spaces, (), -, a leading +)",
    )
    return {"phone": phone}


def validate_trigger(trigger: Any, where: str) -> dict[str, Any]:
    """One checked, normalised trigger; BadRequest naming the bad field."""
    _require(isinstance(trigger, Mapping), f"{where}: must be an object")
    kind = trigger.get("type")
    _require(kind in TYPES, f"{where}.type: must be one of " + ", ".join(TYPES))
    clean: dict[str, Any] = {
        "type": kind,
        "states": _states(trigger.get("states"), f"{where}.states"),
        "payload": _payload(kind, trigger.get("payload"), f"{where}.payload"),
    }
    if trigger.get("duration") is not None:
        clean["duration"] = _duration(trigger["duration"], f"{where}.duration")
    if trigger.get("periodicity") is not None:
        clean["periodicity"] = _periodicity(trigger["periodicity"], f"{where}.periodicity")
    return clean


def validate_triggers(body: Any, where: str = "triggers") -> list[dict[str, Any]]:
    """A checked list of triggers, as a PUT of an entity's triggers or a class's sends it."""
    _require(
        isinstance(body, list) and len(body) <= TRIGGERS_MAX,
        f"{where}: must be an array of at most {TRIGGERS_MAX} triggers",
    )
    return [validate_trigger(t, f"{where}[{n}]") for n, t in enumerate(body)]


def duration_ms(trigger: Mapping[str, Any]) -> int:
    return int(trigger.get("duration") or 0)


def period_ms(trigger: Mapping[str, Any]) -> int | None:
    """The interval between repeats in ms, or None for a trigger that fires once."""
    periodicity = trigger.get("periodicity")
    if not periodicity:
        return None
    return int(periodicity["value"]) * UNITS_MS[periodicity["unit"]]


def operations_named(triggers: list[Mapping[str, Any]]) -> set[str]:
    """The IDs of the operations ``operation`` triggers run: the store checks each belongs
    to the entity or its class."""
    return {t["payload"]["operation"] for t in triggers if t["type"] == "operation"}


def runs_programs(triggers: list[Mapping[str, Any]]) -> bool:
    """Whether any trigger runs a program of its own (``script``): saving one is defining
    what runs on a runner's host, which needs the right to define operations."""
    return any(t["type"] == "script" for t in triggers)
