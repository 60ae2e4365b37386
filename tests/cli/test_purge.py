"""`opsjobs purge`, run for real: a dry run counts and deletes nothing, a run deletes what
the policy says and prints the summary, durations are read strictly."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from helpers import cli_env, run_cli
from helpers.execution import opened_store
from helpers.retention import DAY_MS, make_job, store_jobs
from opsjobs.cli.purge import parse_duration
from opsjobs.domain.clock import now_ms


def _seed(database_url: str) -> None:
    """One object and operation: 30 jobs of 40 days (2 of them still queued or running)
    and 3 of yesterday."""
    now = now_ms()
    owner, operation = "a" * 24, "b" * 24
    old = [make_job(owner, operation, now - 40 * DAY_MS + i) for i in range(28)]
    stuck = [make_job(owner, operation, now - 41 * DAY_MS, s) for s in ("queued", "running")]
    recent = [make_job(owner, operation, now - DAY_MS + i) for i in range(3)]

    async def go() -> None:
        async with opened_store(database_url) as store:
            await store_jobs(store, [*old, *stuck, *recent])

    asyncio.run(go())


def _count(database_url: str, table: str) -> int:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def _row(output: str, step: str) -> list[int]:
    line = next(line for line in output.splitlines() if re.search(rf"\b{step}\b", line))
    return [int(n) for n in re.findall(r"\d+", line)]


def test_a_dry_run_counts_and_deletes_nothing_then_a_run_deletes(database_url) -> None:
    _seed(database_url)
    env = cli_env(OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION="10")
    dry = run_cli("purge", "--older-than", "30d", "--dry-run", "--database-url", database_url, env=env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "would be deleted" in dry.stdout
    # deleted, chunks, kept by the minimum (10 - 3 recent), skipped queued/running
    assert _row(dry.stdout, "jobs") == [21, 0, 7, 2]
    assert _count(database_url, "jobs") == 33 and _count(database_url, "job_output") == 66
    done = run_cli("purge", "--older-than", "30d", "--database-url", database_url, env=env)
    assert done.returncode == 0, done.stderr
    assert _row(done.stdout, "jobs") == [21, 42, 7, 2]
    assert _count(database_url, "jobs") == 12 and _count(database_url, "job_output") == 24


def test_the_settings_decide_without_older_than(database_url) -> None:
    _seed(database_url)
    # The audit log has a limit of its own by default (365 days); without it, nothing is set.
    keep_all = cli_env(OPSJOBS_AUDIT_RETENTION_DAYS="0")
    nothing = run_cli("purge", "--database-url", database_url, env=keep_all)
    assert nothing.returncode == 2 and "nothing to purge" in nothing.stderr
    env = cli_env(OPSJOBS_OUTPUT_RETENTION_DAYS="30", OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION="1")  # fmt: skip
    done = run_cli("purge", "--database-url", database_url, env=env)
    assert done.returncode == 0, done.stderr
    assert _row(done.stdout, "outputs")[:2] == [28, 56]  # jobs whose output went, chunks
    assert _count(database_url, "jobs") == 33


@pytest.mark.parametrize("bad", ["30", "30x", "0d", "-1d", "1.5d", "d", "36501d", "3 0d", "1w"])
def test_durations_are_read_strictly(database_url, bad) -> None:
    result = run_cli("purge", "--older-than", bad, "--dry-run", "--database-url", database_url)
    assert result.returncode == 2
    assert "Invalid value" in result.stderr and "summary" not in result.stdout


@pytest.mark.parametrize(("text", "days"), [("30d", 30), ("12h", 0.5), ("90m", 0.0625)])
def test_durations_in_days(text, days) -> None:
    assert parse_duration(text) == days
