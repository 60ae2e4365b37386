"""`GET /node/api/jobs/:id` of two versions of opsjobs, measured in the same rounds.

``python -m bench.job_route_ab --other-src ../other/src --other-results ../other/bench/results``

Two `opsjobs serve` on the 1M-job database, one running this checkout's code on its cached
database, the other the code under ``--other-src`` (put first on its ``PYTHONPATH``) on the
database that checkout's benchmark seeded (same seed, its own schema), both pinned to the
same core. wrk takes turns between them, ping and job route of each, round after round, as
``python -m bench`` does for 1k and 1M: whatever else the machine does lands on both alike.
The figures are the medians over rounds, and the per-round ratio of the two job routes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from . import load, seed, servers

ROOT = Path(__file__).resolve().parent


def _other_seeded(results: Path) -> seed.Seeded:
    """The 1M database another checkout's benchmark left in its results folder."""
    found = sorted((results / "db").glob("seed-*-1000000.db"))
    if not found:
        raise SystemExit(f"no seeded 1M database under {results / 'db'}: run its benchmark once")
    meta = json.loads(found[-1].with_suffix(".json").read_text())
    return seed.Seeded(found[-1], 1_000_000, meta["busy_object"], meta["passwords"], 0.0)


_TARGETS = """
import json, sys
from pathlib import Path
from bench import load, seed
meta = json.loads(sys.argv[1])
seeded = seed.Seeded(Path(meta["path"]), 1_000_000, meta["busy"], meta["passwords"], 0.0)
found = load.job_targets(seeded, Path(meta["directory"]))
print(json.dumps([str(found.path), found.requests, found.distinct_ids, found.users]))
"""


def _targets(seeded: seed.Seeded, directory: Path, src: Path | None) -> load.Targets:
    """The job route's requests, chosen by the code of the version that serves them (which
    users see which job is decided by opsjobs' own directory, on its own schema)."""
    if src is None:
        return load.job_targets(seeded, directory)
    meta = {
        "path": str(seeded.path),
        "busy": seeded.busy_object,
        "passwords": seeded.passwords,
        "directory": str(directory),
    }
    done = subprocess.run(
        [sys.executable, "-c", _TARGETS, json.dumps(meta)],
        cwd=ROOT.parent,
        env=dict(os.environ, PYTHONPATH=str(src)),
        capture_output=True,
        text=True,
        check=True,
    )
    path, requests, distinct, users = json.loads(done.stdout.strip().splitlines()[-1])
    return load.Targets(Path(path), requests, distinct, users)


def _figures(cases: list[load.Case], load_before: list[float]) -> dict:
    by = {c.label: c for c in cases}
    this_job, this_ping = by["this GET /jobs/:id"], by["this GET /ping"]
    other_job, other_ping = by["other GET /jobs/:id"], by["other GET /ping"]
    figures = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.job_route_ab " + " ".join(sys.argv[1:]),
        "load_average": {"before": load_before, "after": list(os.getloadavg())},
        "cases": {c.label: c.summary() for c in cases},
        "this_over_other_job_rps": round(load.ratio(this_job, other_job), 3),
        "this_over_other_job_cpu": round(load.cpu_ratio(this_job, other_job), 3),
        "job_vs_ping": {
            "this": round(load.ratio(this_job, this_ping), 3),
            "other": round(load.ratio(other_job, other_ping), 3),
        },
        "rounds_this_over_other_rps": [
            round(a.rps / b.rps, 3) for a, b in zip(this_job.runs, other_job.runs, strict=True)
        ],
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.job_route_ab", description=__doc__)
    parser.add_argument("--other-src", type=Path, required=True)
    parser.add_argument("--other-results", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument(
        "--other-first", action="store_true", help="the other version first in each round"
    )
    args = parser.parse_args(argv)
    available = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = available[0], available[-1]
    os.sched_setaffinity(0, {load_cpu})
    wrk = load.ensure_wrk()
    work = args.results / "work" / "ab"
    here = seed.ensure(args.results, 1_000_000)
    other = _other_seeded(args.other_results)
    started = []
    try:
        cases = []
        other_src = args.other_src.resolve()
        for label, seeded, src in (("this", here, None), ("other", other, other_src)):
            settings = {} if src is None else {"PYTHONPATH": str(src)}
            port = servers.free_port()
            argv_ = servers.serve_command(port, seeded.url)
            server = servers.start(
                f"ab-{label}", argv_, port, seeded.url, server_cpu, work / "logs", settings
            )
            started.append(server)
            servers.log_in(server, seeded.passwords)
            (work / label).mkdir(parents=True, exist_ok=True)
            targets = _targets(seeded, work / label, src)
            cases.append(load.Case(f"{label} GET /jobs/:id", server, targets))
            cases.append(load.Case(f"{label} GET /ping", server, load.ping_targets(work / label)))
        if args.other_first:
            cases = cases[2:] + cases[:2]
        load_before = list(os.getloadavg())
        load.measure(
            wrk, cases, seconds=args.seconds, rounds=args.rounds, warmup=2, connections=32,
            cpu=load_cpu,
        )  # fmt: skip
    finally:
        for server in started:
            server.stop()
    figures = _figures(cases, load_before)
    out = args.results / "job_route_ab.json"
    out.write_text(json.dumps(figures, indent=1))
    for case in cases:
        print(
            f"{case.label:24} {case.median('rps'):8.0f} req/s  p99 {case.median('p99_ms'):6.2f} ms"
            f"  server CPU {case.median('cpu_us'):5.1f} µs/req"
        )
    print(
        f"this / other, job route: req/s {figures['this_over_other_job_rps']}"
        f" (rounds {statistics.median(figures['rounds_this_over_other_rps']):.3f} median),"
        f" CPU {figures['this_over_other_job_cpu']}; figures in {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
