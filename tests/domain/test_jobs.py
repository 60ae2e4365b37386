"""Job documents and rows (domain/jobs.py) on their own: ``row_from_document`` reads an
imported history entry into a jobs-table row, or refuses it with a ValueError naming the
field, before anything reaches the database; ``job_document`` makes the document back."""

from __future__ import annotations

import orjson
import pytest

from opsjobs.domain.extjson import plain
from opsjobs.domain.jobs import (
    DOCUMENT_COLUMNS,
    JobRow,
    JobStatus,
    job_document,
    row_from_document,
)
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.values import INT64_MAX

JOB = "65a0c0ffee0000000000beef"
OWNER = "65a0c0ffee0000000000cafe"
TS = 1704164645678


def entry(**fields) -> dict:
    """A minimal valid history entry, with ``fields`` added or (when None) taken out."""
    document = {"id": JOB, "owner_id": OWNER, "timestamp": TS, **fields}
    return {k: v for k, v in document.items() if v is not _GONE}


_GONE = object()


def test_an_exported_job_document_round_trips_through_its_row():
    document = {
        "id": JOB,
        "description": {"exitCode": 1, "stdout": "a\nb", "stderr": ""},
        "operation_id": "65a0c0ffee0000000000f00d",
        "owner_id": OWNER,
        "owner_type": EntityKind.LINK.value,
        "user_id": "65a0c0ffee0000000000d00d",
        "process_meta": {"pid": 42},
        "timestamp": TS,
        "results": [{"k": "v"}, 3],
        "execution": {
            "status": "failed",
            "started": TS + 1,
            "finished": TS + 2,
            "error": "exit code 1",
            "truncated": True,
            "runner": "host/7",
        },
    }
    row = row_from_document(document)
    assert row["operation_name"] is None
    stored = JobRow(**{c: row[c] for c in DOCUMENT_COLUMNS if c != "history"}, history=None)
    assert orjson.loads(orjson.dumps(job_document(stored))) == document


def test_saymons_own_history_is_a_finished_run_judged_by_its_exit_code():
    succeeded = row_from_document(entry(description={"exitCode": 0}))
    no_code = row_from_document(entry())
    failed = row_from_document(entry(description={"exitCode": 2}))
    assert (succeeded["status"], no_code["status"], failed["status"]) == (
        "succeeded",
        "succeeded",
        "failed",
    )
    # Started and finished at its timestamp, run by nobody known, of an object.
    assert (failed["started"], failed["finished"], failed["runner"]) == (TS, TS, None)
    assert failed["owner_type"] == EntityKind.OBJECT.value and failed["truncated"] is False
    assert (failed["description"], failed["results"], failed["process_meta"]) == (
        '{"exitCode":2}',
        "[]",
        None,
    )


def test_mongo_ids_and_the_root_object_are_accepted():
    row = row_from_document(entry(id=_GONE, _id=JOB, owner_id="1"))
    assert (row["id"], row["owner_id"]) == (JOB, "1")


def test_an_exported_line_in_extended_json_reads_as_its_plain_twin():
    line = {
        "_id": {"$oid": JOB},
        "owner_id": OWNER,
        "timestamp": {"$date": "2024-01-02T03:04:05.678Z"},
        "execution": {"status": "succeeded", "started": {"$date": {"$numberLong": str(TS)}}},
        "operation": {"name": "restart"},
    }
    row = row_from_document(plain(line))
    assert (row["id"], row["timestamp"], row["started"]) == (JOB, TS, TS)
    assert (row["finished"], row["operation_name"]) == (TS, "restart")


def test_every_status_is_kept_and_nulls_are_allowed_where_a_job_has_none():
    for status in JobStatus:
        row = row_from_document(entry(execution={"status": status.value, "started": None}))
        assert row["status"] == status and row["started"] is None
    row = row_from_document(entry(operation_id=None, user_id=None, process_meta=None))
    assert (row["operation_id"], row["user_id"], row["process_meta"]) == (None, None, None)
    # Absent and null objects are empty ones; unknown keys are ignored.
    row = row_from_document(entry(execution=None, operation=None, colour="red"))
    assert row["status"] == "succeeded" and "colour" not in row


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "not a JSON object"),
        ("job", "not a JSON object"),
        (None, "not a JSON object"),
        (entry(id=_GONE), "id:"),
        (entry(id=JOB.upper()), "id:"),
        (entry(id=JOB + "0"), "id:"),
        (entry(id=12), "id:"),
        (entry(id={"$oid": JOB}), "id:"),  # extended JSON that nobody unwrapped
        (entry(owner_id="2"), "owner_id:"),
        (entry(owner_id=None), "owner_id:"),
        (entry(owner_id=[OWNER]), "owner_id:"),
        (entry(owner_type=3), "owner_type:"),
        (entry(owner_type="1"), "owner_type:"),
        (entry(owner_type=True), "owner_type:"),
        (entry(owner_type=1.0), "owner_type:"),
        (entry(timestamp=_GONE), "timestamp:"),
        (entry(timestamp=-1), "timestamp:"),
        (entry(timestamp=INT64_MAX + 1), "timestamp:"),
        (entry(timestamp=2**64 - 1), "timestamp:"),
        (entry(timestamp=1.5), "timestamp:"),
        (entry(timestamp=True), "timestamp:"),
        (entry(timestamp="2024-01-02T03:04:05Z"), "timestamp:"),
        (entry(timestamp={"$date": TS}), "timestamp:"),
        (entry(description=[]), "description:"),
        (entry(description="ok"), "description:"),
        (entry(results={}), "results:"),
        (entry(results="[]"), "results:"),
        (entry(process_meta=[1]), "process_meta:"),
        (entry(operation_id=5), "operation_id:"),
        (entry(operation_id="op\0"), "operation_id:"),
        (entry(user_id={"id": 1}), "user_id:"),
        (entry(operation="restart"), "operation:"),
        (entry(operation={"name": ["restart"]}), "operation.name:"),
        (entry(execution=["failed"]), "execution:"),
        (entry(execution={"status": "done"}), "execution.status:"),
        (entry(execution={"status": "SUCCEEDED"}), "execution.status:"),
        (entry(execution={"status": ["failed"]}), "execution.status:"),
        (entry(execution={"status": 1}), "execution.status:"),
        (entry(execution={"started": "yesterday"}), "execution.started:"),
        (entry(execution={"started": INT64_MAX + 1}), "execution.started:"),
        (entry(execution={"finished": -5}), "execution.finished:"),
        (entry(execution={"finished": 1.5}), "execution.finished:"),
        (entry(execution={"error": {"message": "x"}}), "execution.error:"),
        (entry(execution={"error": "a\0b"}), "execution.error:"),
        (entry(execution={"runner": 7}), "execution.runner:"),
    ],
)
def test_a_bad_entry_is_refused_naming_its_field(document, field):
    with pytest.raises(ValueError) as refused:
        row_from_document(document)
    assert str(refused.value).startswith(field)


def test_the_largest_times_a_column_holds_are_accepted():
    row = row_from_document(entry(timestamp=INT64_MAX, execution={"finished": INT64_MAX}))
    assert (row["timestamp"], row["started"], row["finished"]) == (INT64_MAX,) * 3


def _deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"k": value}
    return value


def test_values_nested_deeper_than_can_be_written_are_refused_as_bad_values():
    assert row_from_document(entry(results=[_deep(200)]))["results"].count("{") == 201
    for field in ("description", "results", "process_meta"):
        value = [_deep(400)] if field == "results" else _deep(400)
        with pytest.raises(ValueError, match=f"^{field}: nested too deeply"):
            row_from_document(entry(**{field: value}))


def test_hostile_text_inside_json_values_stays_json():
    text = "\0\u202e'; DROP TABLE jobs; --\n"
    row = row_from_document(entry(description={"stdout": text}, results=[text]))
    assert orjson.loads(row["description"]) == {"stdout": text}
    assert orjson.loads(row["results"]) == [text]
    assert "\0" not in row["description"]  # escaped: PostgreSQL text could not hold it raw
