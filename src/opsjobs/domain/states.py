"""Entity states (docs/api.md §18): SAYMON's built-in states, by ID.

An object or a link is always in one state (``state_id``); a change of it is recorded in the
state history and is what state triggers answer to (``domain/triggers.py``). SAYMON numbers
its built-in states as below (2 is not one of them). An entity may hold any state ID a
client sets (imported data names custom states), but a trigger may only name these.
"""

from __future__ import annotations

from typing import Final

BUILT_IN: Final[dict[int, str]] = {
    1: "Created",
    3: "Working",
    4: "Overloaded",
    5: "Alarm",
    6: "Stopped",
    7: "NoData",
    8: "Down",
    9: "Disable",
}
STATE_ID_MAX: Final = 2**31 - 1


def state_name(state_id: int | None) -> str:
    """The state's name, for people: ``Alarm``, or ``state 42`` for a custom one."""
    if state_id is None:
        return "none"
    return BUILT_IN.get(state_id, f"state {state_id}")
