"""How a run ended: what an executor answers, the runner's finisher holds until it is stored,
and the store records, one value the whole way (keyed by the job's ID where several travel)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .jobs import JobStatus
from .output import Chunk


@dataclass(frozen=True)
class Outcome:
    status: JobStatus
    description: dict[str, Any]  # the job's ``description`` (docs/api.md §5)
    error: str | None = None
    truncated: bool = False
    # Output not yet stored; written in the same transaction as the finished status, so a
    # reader who sees the job finished also sees all of its output.
    chunks: Sequence[Chunk] = ()
    # The state the run's end sets its entity to (its spec's ``sets_state``), recorded in
    # the same transaction as the end; None for nearly every job.
    sets_state: int | None = None
