"""Checks that set states (docs/api.md §9, "Checks that set states"): an operation's
``parameters.setsState``, what a valid one is, and which state a run's end sets.

A program or script operation maps its run's end to a state::

    {"exitCodes": {"0": 3, "1": 4}, "otherwise": 5, "timeout": 5}

``exitCodes``: an exit code (a decimal string, 0–255) to the state a run that exited with it
sets; ``otherwise``: the state of a run that ended (succeeded or failed) with a code not
listed (a run that could not start exits 126 or 127, one killed by signal N 128+N);
``timeout``: the state of a run that timed out. An MQTT operation has no exit code:
``{"published": 3, "failed": 5}``, the state when the broker took the message and when it
did not. Every key is optional, but at least one is given;
an end that no key names sets nothing. A cancelled or lost run sets nothing: it says
nothing about the entity. Only SAYMON's built-in states may be named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .errors import BadRequest
from .jobs import JobStatus
from .states import BUILT_IN

FIELD: Final = "setsState"
EXIT_CODES_MAX: Final = 32
_SCRIPT_KEYS: Final = ("exitCodes", "otherwise", "timeout")
_MQTT_KEYS: Final = ("published", "failed")
_ENDS: Final = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMEOUT})
_BUILT_IN_NAMES: Final = ", ".join(f"{k} ({v})" for k, v in BUILT_IN.items())


def _state(value: Any, where: str) -> int:
    if type(value) is not int or value not in BUILT_IN:
        raise BadRequest(f"{where}: must be a built-in state: {_BUILT_IN_NAMES}")
    return value


def _exit_codes(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise BadRequest(f"{where}: must be a non-empty object of exit codes to states")
    if len(value) > EXIT_CODES_MAX:
        raise BadRequest(f"{where}: at most {EXIT_CODES_MAX} exit codes")
    clean = {}
    for code, state in value.items():
        if not (
            isinstance(code, str) and code.isascii() and code.isdigit() and len(code) <= 3
        ) or not (0 <= int(code) <= 255 and str(int(code)) == code):
            raise BadRequest(f"{where}: {code[:20]!r} is not an exit code (0 to 255)")
        clean[code] = _state(state, f"{where}.{code}")
    return clean


def validate(mqtt: bool, value: Any, where: str = f"parameters.{FIELD}") -> dict[str, Any]:
    """The checked mapping; BadRequest naming the field that is wrong."""
    keys = _MQTT_KEYS if mqtt else _SCRIPT_KEYS
    if not isinstance(value, Mapping) or not value:
        raise BadRequest(f"{where}: must be an object with one or more of {', '.join(keys)}")
    unknown = [k for k in value if k not in keys]
    if unknown:
        kind = "an MQTT" if mqtt else "a program or script"
        raise BadRequest(
            f"{where}.{str(unknown[0])[:40]}: not a field of {kind} operation's "
            f"{FIELD} (it takes {', '.join(keys)})"
        )
    clean: dict[str, Any] = {}
    for key in keys:
        if key == "exitCodes" and key in value:
            clean[key] = _exit_codes(value[key], f"{where}.{key}")
        elif key in value:
            clean[key] = _state(value[key], f"{where}.{key}")
    return clean


def state_after(
    mapping: Mapping[str, Any], status: JobStatus, description: Mapping[str, Any]
) -> int | None:
    """The state a run's end sets, or None (no key names it, or it was cancelled or lost)."""
    if status not in _ENDS:
        return None
    if status is JobStatus.TIMEOUT:
        return mapping.get("timeout")
    code = description.get("exitCode")
    if code is None:  # an MQTT publish
        return mapping.get("published" if status is JobStatus.SUCCEEDED else "failed")
    if type(code) is int and str(code) in mapping.get("exitCodes", {}):
        return mapping["exitCodes"][str(code)]
    return mapping.get("otherwise")
