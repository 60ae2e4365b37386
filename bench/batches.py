"""Batches: a batch over 10,000 objects through ``opsjobs serve``, and a person's execute
requests beside it.

``measure_batches()`` makes a fresh SQLite database (the one-machine default) with a class
whose operation runs ``true`` (a ``fileSystem`` operation, as the execution benchmark's),
``targets`` objects of that class (one, and the others under it), and one more object with its own
``true`` operation for a person to run. ``opsjobs serve`` runs on it pinned to the server's
core with default settings (its embedded runner takes the jobs). Then:

- expansion: the time of ``POST /node/api/batches`` over the subtree (concurrency 100): the
  request resolves the set and saves the batch and its targets in one transaction, and
  answers 202;
- throughput: targets / (the batch's ``finishedAt`` - its ``created``), jobs per second
  through the runner with the dispatcher queueing them 100 at a time, against the bare
  loop of the execution benchmark (bench/execution.py: a fresh process on the same core
  spawning ``true`` with as many at once as the runner has slots);
- a person's wait: every ``interactive_every`` seconds while the batch runs, an execute of
  the other object's operation, and the time from its job's ``timestamp`` to its
  ``execution.started`` (both the server's clock), median and 99th percentile; and the
  execute request's own time;
- the account: every target has exactly one job, and each succeeded (else the run is
  invalid).

``python -m bench.batches [--targets N]`` runs this case alone and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from . import servers
from .execution import _on_core

LOGIN, PASSWORD = "bench", "bench-secret"
CLASS_ID = "c1a55000000000000000b000"
CONCURRENCY = 100
LIMIT_SECONDS = 900


class BatchAccountError(RuntimeError):
    """A target without its one succeeded job: the run proves nothing about speed."""


async def _prepare(url: str, targets: int) -> dict[str, str]:
    """The user, the class and its operation, ``fleet`` and ``targets`` - 1 objects below it,
    all of the class (those below inserted in one transaction), and ``desk`` with its own
    operation."""
    from sqlalchemy import insert, text

    from opsjobs.domain.ids import new_id
    from opsjobs.domain.passwords import Passwords
    from opsjobs.domain.rights import PERMISSIONS
    from opsjobs.store import entities, operations, users
    from opsjobs.store.core import Store
    from opsjobs.store.migrate import upgrade
    from opsjobs.store.schema import object_parents, objects

    store = Store(url)
    await upgrade(store.db)
    await store.open()
    try:
        await users.create_user(
            store, login=LOGIN, password_hash=Passwords().hash(PASSWORD),
            permissions=list(PERMISSIONS), include=["1"],
        )  # fmt: skip
        async with store.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO classes (id, name, created, updated) VALUES (:id, 'fleet', 0, 0)"
                ),
                {"id": CLASS_ID},
            )
        true = {"name": "true", "type": 2, "parameters": {"type": "fileSystem", "path": "true"}}
        batch_op = (await operations.create_operation(store, "class", CLASS_ID, true))["id"]
        fleet = await entities.create_object(
            store, name="fleet", parent_ids=["1"], class_id=CLASS_ID
        )
        fleet = fleet["id"]
        ids = [new_id() for _ in range(targets - 1)]  # fleet is one of the targets
        now = int(time.time() * 1000)
        async with store.write() as conn:
            await conn.execute(
                insert(objects),
                [
                    {"id": i, "name": f"m{n}", "class_id": CLASS_ID, "created": now, "updated": now}
                    for n, i in enumerate(ids)
                ],
            )
            await conn.execute(
                insert(object_parents), [{"object_id": i, "parent_id": fleet} for i in ids]
            )
            await conn.execute(text("UPDATE revisions SET value = value + 1"))
        desk = (await entities.create_object(store, name="desk", parent_ids=["1"]))["id"]
        desk_op = (await operations.create_operation(store, "object", desk, true))["id"]
    finally:
        await store.close()
    return {"fleet": fleet, "batch_op": batch_op, "desk": desk, "desk_op": desk_op}


async def _person(client: httpx.AsyncClient, setup: dict[str, str]) -> tuple[float, float]:
    """(ms from the job's timestamp to its start, ms of the execute request)."""
    url = f"/node/api/objects/{setup['desk']}/operations/{setup['desk_op']}/execute"
    started = time.perf_counter()
    response = await client.post(url, json={})
    request_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"execute: {response.status_code} {response.text[:200]}")
    job_id = response.json()
    while True:
        job = (await client.get(f"/node/api/jobs/{job_id}")).json()
        if job["execution"]["started"] is not None:
            return job["execution"]["started"] - job["timestamp"], request_ms
        await asyncio.sleep(0.01)


async def _run(base: str, setup: dict[str, str], every: float) -> dict[str, Any]:
    auth = (LOGIN, PASSWORD)
    async with httpx.AsyncClient(base_url=base, auth=auth, timeout=120) as client:
        body = {
            "name": "bench",
            "operation": setup["batch_op"],
            "target": {"subtree": setup["fleet"]},
            "concurrency": CONCURRENCY,
        }
        started = time.perf_counter()
        response = await client.post("/node/api/batches", json=body)
        expansion_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 202:
            raise RuntimeError(f"batch: {response.status_code} {response.text[:200]}")
        batch_id = response.json()["id"]
        waits: list[tuple[float, float]] = []
        deadline = time.monotonic() + LIMIT_SECONDS
        while time.monotonic() < deadline:
            batch = (await client.get(f"/node/api/batches/{batch_id}?limit=1")).json()
            if batch["status"] != "running":
                break
            waits.append(await _person(client, setup))
            await asyncio.sleep(every)
        else:
            raise RuntimeError(f"the batch did not end in {LIMIT_SECONDS} s")
    return {"expansion_ms": expansion_ms, "batch": batch, "waits": waits}


def _account(db_path: str, batch_id: str, targets: int) -> None:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        per_target = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT t.entity_id), SUM(j.status = 'succeeded') "
            "FROM batch_targets t JOIN jobs j ON j.id = t.job_id WHERE t.batch_id = ?",
            (batch_id,),
        ).fetchone()
    if tuple(per_target) != (targets, targets, targets):
        raise BatchAccountError(
            f"{targets} targets: {per_target[0]} jobs for {per_target[1]} of them, "
            f"{per_target[2]} succeeded"
        )


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure_batches(
    server_cpu: int | None,
    logs: Path,
    *,
    targets: int = 10_000,
    interactive_every: float = 0.2,
    log=print,
) -> dict[str, Any]:
    from opsjobs.config import Settings

    slots = Settings().runner_concurrency
    with tempfile.TemporaryDirectory(prefix="opsjobs-bench-batches-") as tmp:
        db_path = str(Path(tmp) / "opsjobs.db")
        url = f"sqlite:///{db_path}"
        log(f"  seeding {targets:,} objects of one class under one object")
        setup = asyncio.run(_prepare(url, targets))
        bare = _on_core("bare_loop", ["1000", str(slots)], server_cpu)
        port = servers.free_port()
        server = servers.start(
            "serve-batches", servers.serve_command(port, url), port, url, server_cpu, logs
        )
        try:
            servers.log_in(server, {LOGIN: PASSWORD})
            ran = asyncio.run(_run(server.url, setup, interactive_every))
        finally:
            server.stop()
        batch = ran["batch"]
        if batch["status"] != "finished":
            raise BatchAccountError(f"the batch ended {batch['status']}: {batch['counts']}")
        _account(db_path, batch["id"], targets)
    seconds = (batch["finishedAt"] - batch["created"]) / 1000
    waits = sorted(w for w, _ in ran["waits"])
    requests = sorted(r for _, r in ran["waits"])
    return {
        "targets": targets,
        "concurrency": CONCURRENCY,
        "runner_slots": slots,
        "expansion_ms": round(ran["expansion_ms"], 1),
        "batch_seconds": round(seconds, 2),
        "batch_jobs_per_s": round(targets / seconds, 1),
        "bare_loop_per_s": round(bare["per_s"], 1),
        "ratio": round(targets / seconds / bare["per_s"], 3),
        "person_samples": len(waits),
        "person_start_ms_median": round(statistics.median(waits), 1) if waits else None,
        "person_start_ms_p99": round(_quantile(waits, 0.99), 1),
        "person_execute_ms_median": round(statistics.median(requests), 1) if requests else None,
        "person_execute_ms_p99": round(_quantile(requests, 0.99), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batches", description=__doc__)
    parser.add_argument("--targets", type=int, default=10_000, help="objects in the batch")
    parser.add_argument(
        "--every", type=float, default=0.2, help="seconds between a person's executes"
    )
    args = parser.parse_args(argv)
    from .__main__ import ROOT, _cpus

    server_cpu, _load_cpu = _cpus()
    logs = ROOT / "results" / "work" / "logs"
    figures = measure_batches(server_cpu, logs, targets=args.targets, interactive_every=args.every)
    for name, value in figures.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
