"""`opsjobs jobs import FILE`: job history from JSON lines, in opsjobs' shape or as MongoDB
extended JSON, run as the real console script on a temporary SQLite file."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import orjson

from helpers import app_client, run_cli
from opsjobs.domain.ids import new_id


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def write_lines(path: Path, lines: list) -> Path:
    with path.open("wb") as out:
        for line in lines:
            out.write(line if isinstance(line, bytes) else orjson.dumps(line))
            out.write(b"\n")
    return path


def import_file(database_url: str, path: Path | str, **kwargs):
    return run_cli("jobs", "import", str(path), "--database-url", database_url, **kwargs)


def count_jobs(database_url: str) -> int:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]


def seed_document(job_id: str, owner_id: str, **extra) -> dict:
    document = {
        "id": job_id,
        "description": {"stdout": "Hello, world!", "exitCode": 0},
        "operation_id": "5ed0e3505a6afa192c2e711f",
        "owner_id": owner_id,
        "owner_type": 1,
        "user_id": "5e2184a1a51400778eadc945",
        "process_meta": None,
        "timestamp": 1594970336122,
        "results": [],
    }
    document.update(extra)
    return document


async def test_import_plain_and_extended_json(database_url, tmp_path):
    async with app_client(database_url) as api:
        owner = await api.object("web-1")
    plain_id, full_id, mongo_id, failed_id = new_id(), new_id(), new_id(), new_id()
    full = seed_document(
        full_id,
        owner,
        timestamp=1594970337000,
        results=[{"payload": {"ok": True}, "by": "5e2184a1a51400778eadc945", "timestamp": 1594970338000}],
        operation={"name": "uptime"},
        execution={
            "status": "timeout",
            "started": 1594970337001,
            "finished": 1594970397001,
            "error": "timed out after 60 s",
            "truncated": True,
            "runner": "host-a/4711",
        },
    )  # fmt: skip
    mongo = {
        "_id": {"$oid": mongo_id},
        "description": {"stdout": "up 12 days", "exitCode": {"$numberInt": "0"}},
        "operation_id": {"$oid": "5ed0e3505a6afa192c2e711f"},
        "owner_id": {"$oid": owner},
        "owner_type": {"$numberInt": "1"},
        "user_id": None,
        "process_meta": {"triggerStates": [{"$numberInt": "5"}]},
        "timestamp": {"$numberLong": "1594970338122"},
        "results": [
            {
                "payload": {"note": "checked"},
                "by": {"$oid": "5e2184a1a51400778eadc945"},
                "timestamp": {"$date": "2020-07-17T07:18:58.500Z"},
            },
            {
                "payload": {},
                "by": {"$oid": "5e2184a1a51400778eadc945"},
                "timestamp": {"$date": {"$numberLong": "1594970339000"}},
            },
        ],
    }
    failed = seed_document(
        failed_id, owner, timestamp=1594970339122, description={"stdout": "", "exitCode": 2}
    )
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [seed_document(plain_id, owner), full, b"", mongo, b"   ", failed],
    )
    result = import_file(database_url, path)
    assert result.returncode == 0, result.stderr
    assert "loaded 4 jobs; 0 lines refused" in one_line(result.stderr + result.stdout)

    async with app_client(database_url) as api:
        headers = await api.admin()

        async def job(job_id: str) -> dict:
            response = await api.client.get(f"/node/api/jobs/{job_id}", headers=headers)
            assert response.status_code == 200
            return response.json()

        # SAYMON's own documents carry no `execution`: a finished run by its exit code.
        plain = await job(plain_id)
        assert plain["description"] == {"stdout": "Hello, world!", "exitCode": 0}
        assert plain["timestamp"] == 1594970336122 and plain["process_meta"] is None
        assert plain["execution"]["status"] == "succeeded"
        assert plain["execution"]["started"] == plain["execution"]["finished"] == 1594970336122
        assert (await job(failed_id))["execution"]["status"] == "failed"

        document = await job(full_id)
        assert document["execution"] == full["execution"]
        assert document["results"] == full["results"]

        document = await job(mongo_id)
        assert document["owner_id"] == owner and document["owner_type"] == 1
        assert document["operation_id"] == "5ed0e3505a6afa192c2e711f"
        assert document["timestamp"] == 1594970338122
        assert document["description"] == {"stdout": "up 12 days", "exitCode": 0}
        assert document["process_meta"] == {"triggerStates": [5]}
        assert [r["timestamp"] for r in document["results"]] == [1594970338500, 1594970339000]
        assert document["results"][0]["by"] == "5e2184a1a51400778eadc945"

        history = await api.client.get(f"/node/api/objects/{owner}/jobs", headers=headers)
        assert [d["id"] for d in history.json()] == [plain_id, full_id, mongo_id, failed_id]
        assert history.json()[1]["operation"] == {"name": "uptime"}


async def test_bad_lines_are_reported_by_number_and_not_loaded(database_url, tmp_path):
    owner = new_id()  # history may outlive its object: the owner need not exist
    good = [new_id() for _ in range(3)]
    lines = [
        seed_document(good[0], owner),  # 1
        b'{"id": "broken',  # 2
        seed_document("not-an-id", owner),  # 3
        seed_document(new_id(), owner, owner_type=3),  # 4
        seed_document(new_id(), owner, timestamp="yesterday"),  # 5
        seed_document(good[1], owner),  # 6
        b"[1, 2, 3]",  # 7
        seed_document(new_id(), owner, description="done"),  # 8
        seed_document(new_id(), owner, execution={"status": "exploded"}),  # 9
        seed_document(good[2], owner, owner_type=2),  # 10
        seed_document(new_id(), "", results={}),  # 11
    ]
    path = write_lines(tmp_path / "jobs.jsonl", lines)
    result = import_file(database_url, path)
    assert result.returncode == 1, result.stderr
    output = one_line(result.stderr + result.stdout)
    reported = [int(n) for n in re.findall(r"line (\d+):", output)]
    assert reported == [2, 3, 4, 5, 7, 8, 9, 11], output
    assert "line 2: not valid JSON" in output
    assert "line 3: id:" in output
    assert "line 4: owner_type:" in output
    assert "line 5: timestamp:" in output
    assert "line 8: description:" in output
    assert "line 9: execution.status:" in output
    assert "loaded 3 jobs; 8 lines refused" in output
    assert count_jobs(database_url) == 3
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        assert {r[0] for r in conn.execute("SELECT id FROM jobs")} == set(good)


async def test_duplicates_are_reported_and_history_is_never_overwritten(database_url, tmp_path):
    owner = new_id()
    first, second = new_id(), new_id()
    path = write_lines(
        tmp_path / "jobs.jsonl",
        [
            seed_document(first, owner, description={"stdout": "original", "exitCode": 0}),
            seed_document(second, owner),
            seed_document(first, owner, description={"stdout": "impostor", "exitCode": 0}),
        ],
    )
    result = import_file(database_url, path)
    assert result.returncode == 1
    output = one_line(result.stderr + result.stdout)
    assert f"line 3: job {first} repeats line 1" in output, output
    assert "loaded 2 jobs; 1 lines refused" in output

    again = import_file(database_url, path)
    assert again.returncode == 1
    output = one_line(again.stderr + again.stdout)
    for line, job_id in ((1, first), (2, second), (3, first)):
        assert f"line {line}: job {job_id} already exists" in output, output
    assert "loaded 0 jobs; 3 lines refused" in output
    assert count_jobs(database_url) == 2
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        stored = conn.execute("SELECT description FROM jobs WHERE id = ?", (first,)).fetchone()
    assert orjson.loads(stored[0])["stdout"] == "original"


def test_import_from_stdin(database_url):
    owner = new_id()
    job_id = new_id()
    result = import_file(
        database_url, "-", input=orjson.dumps(seed_document(job_id, owner)).decode() + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert "loaded 1 jobs" in one_line(result.stderr)
    assert count_jobs(database_url) == 1


def test_import_of_a_missing_file_is_refused(database_url):
    result = import_file(database_url, "/no/such/file.jsonl")
    assert result.returncode == 2
    assert "no such file" in one_line(result.stderr)


async def test_a_hundred_thousand_lines(database_url, tmp_path):
    owners = [new_id() for _ in range(10)]
    ids = [new_id() for _ in range(100_000)]
    path = tmp_path / "big.jsonl"
    with path.open("wb") as out:
        for n, job_id in enumerate(ids):
            document = {
                "_id": {"$oid": job_id},
                "owner_id": {"$oid": owners[n % 10]},
                "owner_type": 1,
                "operation_id": {"$oid": "5ed0e3505a6afa192c2e711f"},
                "user_id": None,
                "timestamp": {"$numberLong": str(1_600_000_000_000 + n)},
                "description": {"stdout": f"run {n}", "exitCode": n % 3},
                "results": [],
                "process_meta": None,
            }
            out.write(orjson.dumps(document) + b"\n")
        out.write(b"this line is broken\n")
    result = import_file(database_url, path, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    output = one_line(result.stderr + result.stdout)
    assert "line 100001: not valid JSON" in output
    assert "loaded 100000 jobs; 1 lines refused" in output
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM jobs").fetchone() == (
            100_000,
            100_000,
        )
        rows = conn.execute(
            "SELECT owner_id, count(*), min(timestamp), max(timestamp) FROM jobs GROUP BY owner_id"
        ).fetchall()
        assert sorted(rows) == sorted(
            (owners[k], 10_000, 1_600_000_000_000 + k, 1_600_000_000_000 + 99_990 + k)
            for k in range(10)
        )
        statuses = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
        assert statuses == {"succeeded": 33_334, "failed": 66_666}
    async with app_client(database_url) as api:
        headers = await api.admin()
        last = (await api.client.get(f"/node/api/jobs/{ids[-1]}", headers=headers)).json()
        assert last["description"] == {"stdout": "run 99999", "exitCode": 0}
        assert last["timestamp"] == 1_600_000_099_999
        history = await api.client.get(
            f"/node/api/objects/{owners[3]}/jobs?order=desc&limit=2", headers=headers
        )
        assert [d["id"] for d in history.json()] == [ids[99_993], ids[99_983]]
