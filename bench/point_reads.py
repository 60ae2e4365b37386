"""A point read right after a write, on a connection of its own and on the connection that
wrote (docs/decisions.md, "Point reads on the writer's connection").

    python -m bench.point_reads [--rounds 3] [--reads 4000]

On a copy of the 1M-job database `python -m bench` seeded (bench/results/db), with the
store's own statements and pragmas: a small write by the writing connection, then
`GET /node/api/jobs/:id`'s read of a random job (`Store.job_row_at`) or of the directory
revision. A read's cost is the pair's thread CPU time minus the write's alone.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from opsjobs.store import core
from opsjobs.store.immediate import ImmediateWriter

ROOT = Path(__file__).resolve().parent
READS = {"job row": core._JOB_AT_SQL, "directory revision": core._REVISION_SQL}


def _seeded() -> Path:
    found = sorted((ROOT / "results" / "db").glob("seed-*-1000000.db"))
    if not found:
        raise SystemExit("no seeded 1M database under bench/results/db: run `python -m bench`")
    return found[-1]


def _per_call(work, count: int) -> float:
    started = time.thread_time()
    for index in range(count):
        work(index)
    return (time.thread_time() - started) / count * 1e6


def _reader(read_row, sql: str, ids: list[str]):
    """A read of ``sql``: of a job drawn from ``ids`` when it takes one, else as it is."""
    if "?" not in sql:
        return lambda index: read_row(sql, ())
    return lambda index: read_row(sql, (ids[index % len(ids)],))


def main(rounds: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "jobs.db"
        shutil.copy(_seeded(), path)
        writer = ImmediateWriter(str(path), core.READ_MAP_BYTES)
        own = sqlite3.connect(path, isolation_level=None)
        own.execute("PRAGMA query_only=ON")
        own.execute(f"PRAGMA mmap_size={core.READ_MAP_BYTES}")
        writer.conn.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT)")
        ids = [row[0] for row in own.execute("SELECT id FROM jobs ORDER BY random() LIMIT 20000")]
        random.shuffle(ids)
        connections = {
            "own": lambda sql, params: own.execute(sql, params).fetchone(),
            "writer's": lambda sql, params: writer.read(sql, params, sqlite3.Cursor.fetchone),
        }

        def write(_: int) -> None:
            writer.run(lambda conn: conn.execute("INSERT INTO notes (text) VALUES ('x')"))

        for number in range(rounds):
            alone = _per_call(write, count)
            for name, sql in READS.items():
                figures = []
                for label, read_row in connections.items():
                    read = _reader(read_row, sql, ids)
                    after = _per_call(lambda i, read=read: (write(i), read(i)), count) - alone
                    quiet = _per_call(read, count)
                    figures.append(f"{label} {after:5.1f} µs after a write, {quiet:5.1f} alone")
                print(f"round {number + 1} {name:>18}: " + "; ".join(figures))
        own.close()
        writer.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.point_reads", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=4000)
    options = parser.parse_args()
    main(options.rounds, options.reads)
