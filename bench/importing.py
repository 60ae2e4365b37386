"""Import speed: ``opsjobs jobs import`` of a file of job history into a fresh SQLite file.

``python -m bench.importing --jobs 1000000`` writes (once, cached under
bench/results/work/import/) a file of that many job documents as SAYMON's history holds
them — plain JSON, one line each, about 330 bytes, spread over 100 objects and 180 days,
one in twenty failed with a longer output — migrates a fresh database, and runs the console
script as a user would, progress bar included (to a file: the bar is drawn as on a
terminal, ``FORCE_COLOR`` and a fixed width). jobs/s is the line count over the command's
wall time, start-up and migration-free (the database is migrated beforehand). ``make bench``
runs it once with 1,000,000 lines (target: 50,000 jobs/s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import orjson

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent
TARGET_PER_S = 50_000
FILE_VERSION = 1  # bump when the documents change, so a cached file is made again


def _id(seconds: int, counter: int) -> str:
    return f"{seconds:08x}{b'bench'.hex()}{counter & 0xFFFFFF:06x}"


def write_lines(path: Path, count: int, seed: int = 7) -> Path:
    """``count`` job documents, one JSON line each, as SAYMON's history exports them."""
    rng = random.Random(seed)
    owners = [_id(1_600_000_000 + n, n) for n in range(100)]
    operations = [_id(1_600_000_500 + n, n) for n in range(20)]
    start = 1_700_000_000
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for n in range(count):
            seconds = start + n * 180 * 86_400 // max(count, 1)
            failed = rng.random() < 0.05
            description = (
                {"stderr": "check failed: " + "x" * rng.randrange(100, 400), "exitCode": 2}
                if failed
                else {"stdout": f"ok {rng.randrange(10**6)} in {rng.random():.3f} s", "exitCode": 0}
            )
            document = {
                "id": _id(seconds, n),
                "description": description,
                "operation_id": rng.choice(operations),
                "owner_id": rng.choice(owners),
                "owner_type": 1,
                "user_id": "5e2184a1a51400778eadc945",
                "process_meta": None,
                "timestamp": seconds * 1000 + rng.randrange(1000),
                "results": [],
            }
            out.write(orjson.dumps(document))
            out.write(b"\n")
    partial.rename(path)
    return path


def cached_lines(work: Path, count: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"jobs-{count}-v{FILE_VERSION}.jsonl"
    return path if path.exists() else write_lines(path, count)


def _cli(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "opsjobs"), *args], env=env, check=True, **kwargs)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(count: int, work: Path, cpus: Iterable[int] | None = None, log=print) -> dict:
    """One import of ``count`` lines into a fresh database; its figures. ``cpus``: the CPUs
    it may use (by default this process's: ``make bench`` has narrowed its own to the load
    core, and the import's two processes need two)."""
    lines = cached_lines(work, count)
    db = work / "import.db"
    for leftover in work.glob("import.db*"):
        leftover.unlink()
    url = f"sqlite:///{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSJOBS_")}
    env.update(OPSJOBS_DATABASE_URL=url, FORCE_COLOR="1", COLUMNS="100")
    _cli("migrate", env=env, capture_output=True)
    argv = [str(BIN / "opsjobs"), "jobs", "import", str(lines)]
    if cpus is not None:
        argv = ["taskset", "-c", ",".join(str(cpu) for cpu in sorted(cpus)), *argv]
    load_before = list(os.getloadavg())
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu_seconds = _children_cpu() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(
            f"opsjobs jobs import failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    if stored != count:
        raise RuntimeError(f"{stored} jobs stored of {count} lines")
    figures = {
        "jobs": count,
        "bytes": lines.stat().st_size,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(count / seconds),
        # Steadier than wall time when other work shares the machine; above 1 s a second,
        # the import used both cores (it parses on one while SQLite writes on the other).
        "cpu_seconds": round(cpu_seconds, 2),
        "jobs_per_cpu_s": round(count / cpu_seconds),
        "cpus": len(os.sched_getaffinity(0)) if cpus is None else len(set(cpus)),
        "load_average_before": load_before,
        "target_jobs_per_s": TARGET_PER_S,
        "command": "opsjobs jobs import FILE (SQLite, freshly migrated)",
        "progress_bar_drawn": "importing" in done.stderr,
    }
    log(
        f"  import of {count:,} lines: {seconds:.1f} s, {figures['jobs_per_s']:,} jobs/s "
        f"({cpu_seconds:.1f} s CPU, {figures['jobs_per_cpu_s']:,} jobs per CPU second, "
        f"on {figures['cpus']} CPUs)"
    )
    for leftover in work.glob("import.db*"):
        leftover.unlink()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--cpu", type=int, action="append", help="a CPU the import may use (repeatable)"
    )
    args = parser.parse_args(argv)
    work = ROOT / "results" / "work" / "import"
    runs = [measure(args.jobs, work, args.cpu) for _ in range(args.runs)]
    print(json.dumps(runs[-1] if len(runs) == 1 else runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
