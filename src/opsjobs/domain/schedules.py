"""A schedule: an operation of an object or a link run at times a cron expression or an
interval gives (docs/api.md, "Schedules"), checked and normalised, and its timing.

Cron expressions are read by cronsim (docs/decisions.md, "Schedules"), in the schedule's
IANA time zone. Around a change of clocks each wall-clock time runs once:

- a time the clocks skip (02:30 when 02:00 becomes 03:00) runs at the change, 03:00;
- a time the clocks repeat (01:30 when 02:00 becomes 01:00 again) runs the first time only:
  a time no later on the wall clock than the previous run is passed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import BadRequest
from .names import hidden_character

MISSED_POLICIES = ("skip", "run-once")
NAME_MAX = 255
CRON_MAX = 120
TIMEZONE_MAX = 64
INTERVAL_MAX = 366 * 24 * 3600  # a year (and a day): a longer wait is not a schedule
PER_OWNER_MAX = 1000  # schedules one user may own
FIELDS = ("name", "operation", "target", "args", "cron", "timezone", "interval", "missed", "paused")
_STEPS_MAX = 1000  # passes over repeated wall-clock times (at most an hour's worth)


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule runs: ``cron`` in ``timezone``, or every ``interval`` seconds."""

    cron: str | None
    timezone: str
    interval: int | None

    def following(self, after: int, previous: int | None = None) -> int:
        """The first time (ms) strictly after ``after``; for cron, also later on the wall
        clock than ``previous`` (the run before, if any), so a repeated hour runs once."""
        if self.interval is not None:
            step = self.interval * 1000
            if previous is None:
                return after + step
            # Keep the phase of the earlier runs: previous + k·step, the first after ``after``.
            return previous + (max(0, after - previous) // step + 1) * step
        try:
            return _cron_following(self.cron or "", ZoneInfo(self.timezone), after, previous)
        except (CronSimError, ZoneInfoNotFoundError, ValueError) as exc:
            # A zone the system's time zone data no longer has, say: the schedule stops.
            raise BadRequest(f"cron: cannot be read in {self.timezone}: {exc}") from exc


def _cron_following(expression: str, zone: ZoneInfo, after: int, previous: int | None) -> int:
    start = datetime.fromtimestamp(after / 1000, UTC).astimezone(zone)
    wall_floor = None
    if previous is not None:
        wall_floor = datetime.fromtimestamp(previous / 1000, UTC).astimezone(zone)
        wall_floor = wall_floor.replace(tzinfo=None)
    times = CronSim(expression, start)
    try:
        for _ in range(_STEPS_MAX):
            candidate = next(times)
            at = int(candidate.astimezone(UTC).timestamp() * 1000)
            if at > after and (wall_floor is None or candidate.replace(tzinfo=None) > wall_floor):
                return at
    except StopIteration:
        pass
    raise BadRequest("cron: the expression names no time to run")


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise BadRequest(f"name: must be a non-empty text of at most {NAME_MAX} characters")
    hidden = hidden_character(value)
    if hidden is not None:  # shown in tables and logs: nothing that moves a terminal
        raise BadRequest(f"name: must not contain {hidden}")
    return value


def _target(value: Any) -> tuple[str, str]:
    """("object" | "link", ID) from ``{"object": id}`` or ``{"link": id}``."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise BadRequest('target: must be {"object": ID} or {"link": ID}')
    ((kind, entity_id),) = value.items()
    if kind not in ("object", "link") or not isinstance(entity_id, str) or not entity_id:
        raise BadRequest('target: must be {"object": ID} or {"link": ID}')
    if len(entity_id) > 64:
        raise BadRequest("target: the ID is too long")
    return kind, entity_id


def _timezone(value: Any) -> str:
    if value is None:
        return "UTC"
    if not isinstance(value, str) or not 0 < len(value) <= TIMEZONE_MAX:
        raise BadRequest("timezone: must be an IANA time zone name, such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(f"timezone: unknown time zone {value!r}") from exc
    return value


def _cron(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= CRON_MAX:
        raise BadRequest(f"cron: must be a cron expression of at most {CRON_MAX} characters")
    if len(value.split()) != 5:
        raise BadRequest("cron: must have 5 fields (minute hour day month weekday)")
    try:
        CronSim(value, datetime.now(UTC))
    except CronSimError as exc:
        raise BadRequest(f"cron: {exc}") from exc
    return value


def _interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INTERVAL_MAX:
        raise BadRequest(f"interval: must be a whole number of seconds from 1 to {INTERVAL_MAX}")
    return value


def timing(body: Mapping[str, Any]) -> Timing:
    """Exactly one of ``cron`` (with ``timezone``) or ``interval``."""
    has_cron = body.get("cron") is not None
    has_interval = body.get("interval") is not None
    if has_cron == has_interval:
        raise BadRequest("cron: give exactly one of cron or interval")
    if has_interval:
        if body.get("timezone") not in (None, "UTC"):
            raise BadRequest("timezone: only with cron")
        return Timing(None, "UTC", _interval(body["interval"]))
    checked = Timing(_cron(body["cron"]), _timezone(body.get("timezone")), None)
    checked.following(int(datetime.now(UTC).timestamp() * 1000))  # one that never runs: 400
    return checked


@dataclass(frozen=True, slots=True)
class ScheduleFields:
    """A schedule's fields as a client gives them, checked (not yet against the store)."""

    name: str
    kind: str  # "object" or "link"
    entity_id: str
    operation_id: str
    args: dict[str, Any]
    timing: Timing
    missed: str
    paused: bool


def checked(body: Any) -> ScheduleFields:
    """The fields of a schedule's body (a create, or a change merged over the stored one);
    400 naming the first field that is wrong."""
    if not isinstance(body, Mapping):
        raise BadRequest("body: must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS) - {"id", "owner", *READ_ONLY})
    if unknown:
        raise BadRequest(f"{unknown[0]}: not a field of a schedule")
    operation = body.get("operation")
    if not isinstance(operation, str) or not 0 < len(operation) <= 64:
        raise BadRequest("operation: must be an operation's ID")
    args = body.get("args") or {}
    if not isinstance(args, Mapping):
        raise BadRequest("args: must be a JSON object")
    missed = body.get("missed") or "skip"
    if missed not in MISSED_POLICIES:
        raise BadRequest("missed: must be skip or run-once")
    paused = body.get("paused", False)
    if not isinstance(paused, bool):
        raise BadRequest("paused: must be true or false")
    kind, entity_id = _target(body.get("target"))
    return ScheduleFields(
        _name(body.get("name")),
        kind,
        entity_id,
        operation,
        dict(args),
        timing(body),
        missed,
        paused,
    )


READ_ONLY = ("nextRunAt", "lastRunAt", "lastJobId", "stoppedReason", "created", "updated")


def refuse_read_only(body: Any) -> None:
    """400 for a body that is not an object or sets what only the server sets."""
    if not isinstance(body, Mapping):
        raise BadRequest("body: must be a JSON object")
    for field in ("id", "owner", *READ_ONLY):
        if field in body:
            raise BadRequest(f"{field}: set by the server, not by a request")


def merged(current: Mapping[str, Any], change: Any) -> dict[str, Any]:
    """A stored schedule's document with a PATCH body over it: giving ``cron`` drops the
    interval and giving ``interval`` drops the cron and its time zone."""
    refuse_read_only(change)
    result = {**current, **change}
    if change.get("cron") is not None:
        result["interval"] = None
    if change.get("interval") is not None:
        result["cron"] = None
        result["timezone"] = None
    return result


def is_late(due_at: int, now: int, late_after_ms: int) -> bool:
    return now - due_at > late_after_ms


def runs_now(missed: str, late: bool) -> bool:
    """Whether a due time reached at ``now`` makes a job: on time always; late (the server
    was down past it), only under ``run-once``."""
    return not late or missed == "run-once"
