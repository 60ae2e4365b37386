"""Jobs: owner kinds, execution statuses and the job document of API.md §4."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import orjson

from .ids import is_entity_id, is_object_id

OWNER_OBJECT = 1
OWNER_LINK = 2
OWNER_KINDS = {OWNER_OBJECT: "Object", OWNER_LINK: "Link"}


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


# The columns a job document is made of, in this order (see ``job_document``).
DOCUMENT_COLUMNS = (
    "id",
    "description",
    "operation_id",
    "owner_id",
    "owner_type",
    "user_id",
    "process_meta",
    "timestamp",
    "results",
    "status",
    "started",
    "finished",
    "error",
    "truncated",
    "runner",
)

_Fragment = orjson.Fragment


def job_document(row: Sequence[Any]) -> dict[str, Any]:
    """The job document from a row of DOCUMENT_COLUMNS.

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
    ) = row[:15]
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
        "execution": {
            "status": status,
            "started": started,
            "finished": finished,
            "error": error,
            "truncated": bool(truncated),
            "runner": runner,
        },
    }


def history_document(row: Sequence[Any]) -> dict[str, Any]:
    """A job in a history list: the job document plus ``operation.name`` (row column 16)."""
    document = job_document(row)
    document["operation"] = {"name": row[15]}
    return document


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def row_from_document(document: Any) -> dict[str, Any]:
    """A jobs-table row from a job document (an imported history entry); ValueError if bad.

    Documents without ``execution`` (SAYMON's own history) are finished runs: succeeded when
    the exit code is 0 or absent, failed otherwise.
    """
    _require(isinstance(document, dict), "not a JSON object")
    job_id = document.get("id", document.get("_id"))
    _require(is_object_id(job_id), "id: must be a 24-hex-digit ID")
    owner_id = document.get("owner_id")
    _require(is_entity_id(owner_id), "owner_id: must be an object or link ID")
    owner_type = document.get("owner_type", OWNER_OBJECT)
    _require(owner_type in OWNER_KINDS and type(owner_type) is int, "owner_type: must be 1 or 2")
    timestamp = document.get("timestamp")
    _require(type(timestamp) is int and timestamp >= 0, "timestamp: must be an integer (ms)")
    description = document.get("description", {})
    _require(isinstance(description, dict), "description: must be an object")
    results = document.get("results", [])
    _require(isinstance(results, list), "results: must be an array")
    process_meta = document.get("process_meta")
    _require(
        process_meta is None or isinstance(process_meta, dict),
        "process_meta: must be an object or null",
    )
    for name in ("operation_id", "user_id"):
        value = document.get(name)
        _require(value is None or isinstance(value, str), f"{name}: must be a string or null")
    operation = document.get("operation") or {}
    _require(isinstance(operation, dict), "operation: must be an object")
    execution = document.get("execution") or {}
    _require(isinstance(execution, dict), "execution: must be an object")
    exit_code = description.get("exitCode")
    default_status = JobStatus.SUCCEEDED if exit_code in (0, None) else JobStatus.FAILED
    status = execution.get("status", default_status)
    _require(status in JobStatus.__members__.values(), f"execution.status: unknown {status!r}")
    return {
        "id": job_id,
        "owner_id": owner_id,
        "owner_type": owner_type,
        "operation_id": document.get("operation_id"),
        "operation_name": operation.get("name"),
        "user_id": document.get("user_id"),
        "timestamp": timestamp,
        "process_meta": None if process_meta is None else orjson.dumps(process_meta).decode(),
        "description": orjson.dumps(description).decode(),
        "results": orjson.dumps(results).decode(),
        "status": str(status),
        "started": execution.get("started", timestamp),
        "finished": execution.get("finished", timestamp),
        "error": execution.get("error"),
        "truncated": bool(execution.get("truncated", False)),
        "runner": execution.get("runner"),
    }
