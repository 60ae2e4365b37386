"""How a drill counts a lost job whose script left its end mark (bench/stack.py): after the
fault, a broken promise (the run outlived its runner); before it, the fault took a stored
end with it, and ``lost`` is the truth. Without the fault's moment, every such job counts
against the promise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's bench/

from bench import faults  # noqa: E402
from bench.stack import Counts, Stack  # noqa: E402

FAULT_NS = 1_000_000_000_000_000_000


def _stack(tmp_path: Path, ends: dict[str, int]) -> Stack:
    stack = Stack(tmp_path, "sqlite://", {})
    for job_id, written_ns in ends.items():
        for kind in ("start", "end"):
            mark = stack.marks / f"{job_id}.{kind}"
            mark.write_text(f"{kind}\n")
        mark = stack.marks / f"{job_id}.end"
        os.utime(mark, ns=(written_ns, written_ns))
    return stack


def test_a_lost_job_whose_run_ended_after_the_fault_breaks_the_promise(tmp_path):
    stack = _stack(tmp_path, {"after": FAULT_NS + 50_000_000, "before": FAULT_NS - 50_000_000})
    counts = Counts("kill", fault_ns=FAULT_NS)
    counts.count_jobs(stack, {"after": "lost", "before": "lost"})
    assert (counts.lost, counts.lost_but_ran, counts.ended_before_fault) == (2, 1, 1)
    assert faults.promise_broken(counts) == ["lost_but_ran=1"]


def test_without_the_faults_moment_every_lost_job_that_ran_counts(tmp_path):
    stack = _stack(tmp_path, {"before": FAULT_NS - 50_000_000})
    counts = Counts("restart")
    counts.count_jobs(stack, {"before": "lost"})
    assert (counts.lost_but_ran, counts.ended_before_fault) == (1, 0)


def test_a_job_that_ended_before_the_fault_and_was_stored_is_simply_final(tmp_path):
    stack = _stack(tmp_path, {"done": FAULT_NS - 50_000_000})
    counts = Counts("kill", fault_ns=FAULT_NS)
    counts.count_jobs(stack, {"done": "succeeded"})
    assert (counts.final, counts.lost, counts.ended_before_fault) == (1, 0, 0)
    assert faults.promise_broken(counts) == []
