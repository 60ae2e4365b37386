"""Jobs: execution statuses and the job document of docs/api.md §5."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from .ids import is_entity_id, is_object_id
from .kinds import EntityKind
from .values import INT64_MAX

# The owner_type numbers a job document may carry.
_OWNER_TYPES = frozenset(kind.value for kind in EntityKind)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


class JobRow(NamedTuple):
    """A job as the store reads it: the columns a job document is made of, in this order (see
    ``job_document``). JSON-valued columns hold JSON text."""

    id: str
    description: str
    operation_id: str | None
    owner_id: str
    owner_type: int
    user_id: str | None
    process_meta: str | None
    timestamp: int
    results: str
    status: str
    started: int | None
    finished: int | None
    error: str | None
    truncated: bool
    runner: str | None
    history: str | None


# The columns of a JobRow, which the store selects: one list, so the two cannot drift.
DOCUMENT_COLUMNS: tuple[str, ...] = JobRow._fields
_WIDTH = len(DOCUMENT_COLUMNS)

# A job in a history list: a JobRow and then the name of its operation.
HistoryRow = NamedTuple(
    "HistoryRow", [*JobRow.__annotations__.items(), ("operation_name", "str | None")]
)

_Fragment = orjson.Fragment


def job_document(row: JobRow | HistoryRow) -> dict[str, Any]:
    """The job document of a job's row.

    JSON-valued columns are stored as JSON text and passed through as fragments, so reading a
    job never decodes and re-encodes its output or results.
    """
    (
        job_id,
        description,
        operation_id,
        owner_id,
        owner_type,
        user_id,
        process_meta,
        timestamp,
        results,
        status,
        started,
        finished,
        error,
        truncated,
        runner,
        history,
    ) = row[:_WIDTH]
    execution = {
        "status": status,
        "started": started,
        "finished": finished,
        "error": error,
        "truncated": bool(truncated),
        "runner": runner,
    }
    if history is not None:  # only a job something happened to has one (see store/queue.py)
        execution["history"] = _Fragment(history)
    return {
        "id": job_id,
        "description": _Fragment(description),
        "operation_id": operation_id,
        "owner_id": owner_id,
        "owner_type": owner_type,
        "user_id": user_id,
        "process_meta": None if process_meta is None else _Fragment(process_meta),
        "timestamp": timestamp,
        "results": _Fragment(results),
        "execution": execution,
    }


def history_document(row: HistoryRow) -> dict[str, Any]:
    """A job in a history list: the job document plus ``operation.name``."""
    document = job_document(row)
    document["operation"] = {"name": row.operation_name}
    return document


_STATUSES = frozenset(s.value for s in JobStatus)


def row_from_document(document: Any) -> dict[str, Any]:
    """A jobs-table row from a job document (an imported history entry); ValueError if bad.

    Documents without ``execution`` (SAYMON's own history) are finished runs: succeeded when
    the exit code is 0 or absent, failed otherwise. (Checks raise inline: this runs once per
    imported line, and building every message up front would cost more than the checks.)
    """
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    job_id = document.get("id", document.get("_id"))
    if not is_object_id(job_id):
        raise ValueError("id: must be a 24-hex-digit ID")
    owner_id = document.get("owner_id")
    if not is_entity_id(owner_id):
        raise ValueError("owner_id: must be an object or link ID")
    owner_type = document.get("owner_type", EntityKind.OBJECT.value)
    if type(owner_type) is not int or owner_type not in _OWNER_TYPES:
        raise ValueError("owner_type: must be 1 or 2")
    timestamp = _milliseconds(document.get("timestamp"), "timestamp")
    description = _of_type(document.get("description", {}), dict, "description")
    results = _of_type(document.get("results", []), list, "results")
    process_meta = document.get("process_meta")
    if process_meta is not None:
        _of_type(process_meta, dict, "process_meta")
    operation = _of_type(document.get("operation") or {}, dict, "operation")
    return {
        "id": job_id,
        "owner_id": owner_id,
        "owner_type": owner_type,
        "operation_id": _text_or_null(document.get("operation_id"), "operation_id"),
        "operation_name": _text_or_null(operation.get("name"), "operation.name"),
        "user_id": _text_or_null(document.get("user_id"), "user_id"),
        "timestamp": timestamp,
        "process_meta": None if process_meta is None else _json_text(process_meta, "process_meta"),
        "description": _json_text(description, "description"),
        "results": _json_text(results, "results"),
        **_execution_columns(document.get("execution") or {}, description, timestamp),
    }


def _execution_columns(execution: Any, description: dict, timestamp: int) -> dict[str, Any]:
    _of_type(execution, dict, "execution")
    status = execution.get("status")
    if status is None:
        status = "succeeded" if description.get("exitCode") in (0, None) else "failed"
    elif not isinstance(status, str) or status not in _STATUSES:
        raise ValueError(f"execution.status: unknown {status!r}")
    started, finished = execution.get("started", timestamp), execution.get("finished", timestamp)
    return {
        "status": status,
        "started": None if started is None else _milliseconds(started, "execution.started"),
        "finished": None if finished is None else _milliseconds(finished, "execution.finished"),
        "error": _text_or_null(execution.get("error"), "execution.error"),
        "truncated": bool(execution.get("truncated", False)),
        "runner": _text_or_null(execution.get("runner"), "execution.runner"),
    }


_KIND_NAMES = {dict: "an object", list: "an array"}


def _of_type(value: Any, kind: type, name: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{name}: must be {_KIND_NAMES[kind]}")
    return value


def _text_or_null(value: Any, name: str) -> str | None:
    # NUL: PostgreSQL text cannot hold it.
    if value is not None and (not isinstance(value, str) or "\0" in value):
        raise ValueError(f"{name}: must be a string without NUL, or null")
    return value


def _milliseconds(value: Any, name: str) -> int:
    # The columns are 64-bit: a bigger number would pass here and fail the whole batch's insert.
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name}: must be an integer (ms)")
    return value


def _json_text(value: Any, name: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        raise ValueError(f"{name}: nested too deeply") from None
