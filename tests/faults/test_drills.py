"""The fault drills, small: real servers and runners, real faults, every job counted
from the outside (bench/faults.py has the drills; `make faults` runs them bigger).

What each drill must show: every accepted job ends final, none runs twice, a job reported
``lost`` never ran to its end, a job whose script ran to its end is reported succeeded, and
no request is answered with an error other than 503.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's bench/

from bench import faults  # noqa: E402
from bench.stack import mount_unavailable, postgres_unavailable  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
JOBS = 4

NEEDS = {
    "kill9-postgresql": [postgres_unavailable],
    "pg-restart": [postgres_unavailable],
    "disk-full-sqlite": [mount_unavailable],
    "disk-full-workdir": [mount_unavailable],
    "disk-full-postgresql": [mount_unavailable, postgres_unavailable],
}


@pytest.fixture
def drill_root() -> Iterator[Path]:
    # Not under pytest's tmp_path: a private PostgreSQL runs as the postgres user, which must
    # reach its data directory, and every pytest session that starts (another suite on the
    # machine) makes /tmp/pytest-of-<user> private again, under a running drill's feet.
    root = Path(tempfile.mkdtemp(prefix="opsjobs-drill-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


pytestmark = pytest.mark.faults  # `-m "not faults"` leaves them out of a quick local run


@pytest.mark.timeout(400)  # each takes tens of seconds; a failing one waits for jobs 120 s
@pytest.mark.parametrize("drill", list(faults.DRILLS))
def test_drill(drill, drill_root):
    for check in NEEDS.get(drill, []):
        reason = check()
        if reason and IN_CI:
            pytest.fail(f"{drill} cannot run under CI: {reason}")
        if reason:
            pytest.skip(reason)
    counts = faults.DRILLS[drill](drill_root, JOBS)
    summary = f"{counts.as_row()}; {counts.notes}"
    assert counts.accepted > 0, summary
    assert not faults.promise_broken(counts), summary
