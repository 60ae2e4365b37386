"""Job output as the layers pass it around: numbered chunks of a job's stdout or stderr."""

from __future__ import annotations

from dataclasses import dataclass

# A stream's number, as stored (job_output.stream), and its name, as the API spells it.
STDOUT = 1
STDERR = 2
STREAMS = {"stdout": STDOUT, "stderr": STDERR}


@dataclass(frozen=True)
class Chunk:
    """``data`` of one stream, the ``seq``-th chunk stored, starting at byte ``offset``."""

    stream: int
    seq: int
    offset: int
    data: bytes
