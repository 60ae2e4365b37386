"""A batch: one operation run over a set of targets (docs/api.md, "Batches"), its body
checked and normalised, and what counts as a failure for its stop rule.

A target set is one of ``{"subtree": OBJECT_ID}``, ``{"class": CLASS_ID}``, ``{"tag":
NAME}``, ``{"objects": [IDs]}`` or ``{"links": [IDs]}``; which entities it names is the
store's to resolve (service/batches.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import BadRequest
from .ids import is_object_id
from .jobs import JobStatus
from .names import hidden_character

NAME_MAX = 255
TAG_NAME_MAX = 255
TARGETS_MAX = 10_000  # targets one batch may have, also the longest list a body may give
CONCURRENCY_DEFAULT = 10
CONCURRENCY_MAX = 100  # jobs of one batch queued or running at once
OPEN_PER_OWNER_MAX = 20  # running batches one user may have
FIELDS = ("name", "operation", "target", "args", "concurrency", "stopAfterFailures")

# Job ends that count towards ``stopAfterFailures``. A job someone cancelled is a decision,
# not a failure.
FAILURES = frozenset({JobStatus.FAILED.value, JobStatus.TIMEOUT.value, JobStatus.LOST.value})


class BatchStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class TargetStatus(StrEnum):
    """A target's place in its batch, besides the final status of its job."""

    WAITING = "waiting"  # no job yet: the batch's concurrency is taken
    ACTIVE = "active"  # its job is queued or running
    SKIPPED = "skipped"  # no job will be made: the operation does not apply (``reason``)
    NOT_QUEUED = "not-queued"  # the batch stopped or was cancelled before its turn


@dataclass(frozen=True, slots=True)
class Target:
    """A target set: its kind (one of TARGET_KINDS) and what it names: an ID, a tag's name,
    or a list of IDs (each once, in the order given)."""

    kind: str
    value: str | tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {self.kind: list(self.value) if isinstance(self.value, tuple) else self.value}


@dataclass(frozen=True, slots=True)
class BatchFields:
    name: str
    operation_id: str
    target: Target
    args: dict[str, Any]
    concurrency: int
    stop_after_failures: int | None


_TARGET_SHAPE = (
    'target: must be one of {"subtree": ID}, {"class": ID}, {"tag": NAME}, '
    '{"objects": [IDs]}, {"links": [IDs]}'
)


def _ids(kind: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise BadRequest(f"target.{kind}: must be a non-empty list of IDs")
    if len(value) > TARGETS_MAX:
        raise BadRequest(f"target.{kind}: at most {TARGETS_MAX} IDs")
    for item in value:
        if not is_object_id(item):
            raise BadRequest(f"target.{kind}: every item must be a 24-hex-digit ID")
    return tuple(dict.fromkeys(value))


def target(value: Any) -> Target:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise BadRequest(_TARGET_SHAPE)
    ((kind, named),) = value.items()
    if kind in ("objects", "links"):
        return Target(kind, _ids(kind, named))
    if kind == "tag":
        if not isinstance(named, str) or not 0 < len(named) <= TAG_NAME_MAX:
            raise BadRequest(f"target.tag: must be a tag's name of at most {TAG_NAME_MAX}")
        return Target(kind, named)
    if kind in ("subtree", "class"):
        # The root object is "1": an object ID is not always 24 hex digits.
        if not isinstance(named, str) or not 0 < len(named) <= 64:
            raise BadRequest(f"target.{kind}: must be an ID")
        return Target(kind, named)
    raise BadRequest(_TARGET_SHAPE)


def _name(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise BadRequest(f"name: must be a non-empty text of at most {NAME_MAX} characters")
    hidden = hidden_character(value)
    if hidden is not None:  # shown in tables and logs: nothing that moves a terminal
        raise BadRequest(f"name: must not contain {hidden}")
    return value


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{field}: must be a whole number from {low} to {high}")
    return value


def checked(body: Any) -> BatchFields:
    """The fields of a new batch's body; 400 naming the first field that is wrong."""
    if not isinstance(body, Mapping):
        raise BadRequest("body: must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise BadRequest(f"{unknown[0]}: not a field of a batch")
    operation = body.get("operation")
    if not isinstance(operation, str) or not 0 < len(operation) <= 64:
        raise BadRequest("operation: must be an operation's ID")
    args = body.get("args")
    args = {} if args is None else args
    if not isinstance(args, Mapping):
        raise BadRequest("args: must be a JSON object")
    concurrency = body.get("concurrency")
    concurrency = CONCURRENCY_DEFAULT if concurrency is None else concurrency
    stop = body.get("stopAfterFailures")
    checked_target = target(body.get("target"))
    return BatchFields(
        name=_name(body.get("name"), f"batch of {operation}"),
        operation_id=operation,
        target=checked_target,
        args=dict(args),
        concurrency=_whole(concurrency, "concurrency", 1, CONCURRENCY_MAX),
        stop_after_failures=None
        if stop is None
        else _whole(stop, "stopAfterFailures", 1, TARGETS_MAX),
    )
