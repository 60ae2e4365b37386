"""Jobs: execution statuses and the job document of docs/api.md §5."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from .ids import is_entity_id, is_object_id
from .kinds import EntityKind

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
    job_id, owner_id, owner_type, timestamp = _identity(document)
    description, results, process_meta = _contents(document)
    operation_id, user_id, operation = _references(document)
    execution = document.get("execution") or {}
    if not isinstance(execution, dict):
        raise ValueError("execution: must be an object")
    status = execution.get("status")
    if status is None:
        status = "succeeded" if description.get("exitCode") in (0, None) else "failed"
    elif status not in _STATUSES:
        raise ValueError(f"execution.status: unknown {status!r}")
    return {
        "id": job_id,
        "owner_id": owner_id,
        "owner_type": owner_type,
        "operation_id": operation_id,
        "operation_name": operation.get("name"),
        "user_id": user_id,
        "timestamp": timestamp,
        "process_meta": None if process_meta is None else orjson.dumps(process_meta).decode(),
        "description": orjson.dumps(description).decode(),
        "results": orjson.dumps(results).decode(),
        "status": status,
        "started": execution.get("started", timestamp),
        "finished": execution.get("finished", timestamp),
        "error": execution.get("error"),
        "truncated": bool(execution.get("truncated", False)),
        "runner": execution.get("runner"),
    }


def _identity(document: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The job's ID, its owner's ID and kind, and its timestamp, checked."""
    job_id = document.get("id", document.get("_id"))
    if not is_object_id(job_id):
        raise ValueError("id: must be a 24-hex-digit ID")
    owner_id = document.get("owner_id")
    if not is_entity_id(owner_id):
        raise ValueError("owner_id: must be an object or link ID")
    owner_type = document.get("owner_type", EntityKind.OBJECT.value)
    if type(owner_type) is not int or owner_type not in _OWNER_TYPES:
        raise ValueError("owner_type: must be 1 or 2")
    timestamp = document.get("timestamp")
    if type(timestamp) is not int or timestamp < 0:
        raise ValueError("timestamp: must be an integer (ms)")
    return job_id, owner_id, owner_type, timestamp


def _contents(document: dict[str, Any]) -> tuple[dict, list, dict | None]:
    """The job's description, results and process_meta, checked."""
    description = document.get("description", {})
    if not isinstance(description, dict):
        raise ValueError("description: must be an object")
    results = document.get("results", [])
    if not isinstance(results, list):
        raise ValueError("results: must be an array")
    process_meta = document.get("process_meta")
    if process_meta is not None and not isinstance(process_meta, dict):
        raise ValueError("process_meta: must be an object or null")
    return description, results, process_meta


def _references(document: dict[str, Any]) -> tuple[str | None, str | None, dict]:
    """The job's operation ID, user ID and operation (its name), checked."""
    operation_id, user_id = document.get("operation_id"), document.get("user_id")
    if operation_id is not None and not isinstance(operation_id, str):
        raise ValueError("operation_id: must be a string or null")
    if user_id is not None and not isinstance(user_id, str):
        raise ValueError("user_id: must be a string or null")
    operation = document.get("operation") or {}
    if not isinstance(operation, dict):
        raise ValueError("operation: must be an object")
    return operation_id, user_id, operation
