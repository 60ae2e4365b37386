"""POST /node/api/jobs for an object with a long history: time to first byte, total time, and
how much the server's memory grows while it streams the answer."""

from __future__ import annotations

import base64
import http.client
import sqlite3
import threading
import time
from dataclasses import dataclass

import orjson

from .seed import Seeded
from .servers import HOST, Server


@dataclass
class HistoryRun:
    jobs: int
    bytes: int
    first_byte_s: float
    total_s: float
    rss_before_mib: float
    rss_growth_mib: float

    def summary(self) -> dict:
        return {
            "jobs": self.jobs,
            "bytes": self.bytes,
            "first_byte_ms": round(self.first_byte_s * 1000, 1),
            "total_ms": round(self.total_s * 1000, 1),
            "rss_before_mib": round(self.rss_before_mib, 1),
            "peak_rss_growth_mib": round(self.rss_growth_mib, 1),
        }


class PeakRss:
    """Samples the server's resident memory (all its processes) every few milliseconds."""

    def __init__(self, server: Server, interval: float = 0.002) -> None:
        self.server = server
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        processes = self.server.processes()
        while not self._stop.is_set():
            total = 0
            for proc in processes:
                try:
                    total += proc.memory_info().rss
                except Exception:  # a worker going away ends nothing here
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


def job_count(seeded: Seeded, object_id: str) -> int:
    conn = sqlite3.connect(f"file:{seeded.path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT count(*) FROM jobs WHERE owner_id = ?", (object_id,)
        ).fetchone()[0]
    finally:
        conn.close()


def post_history(server: Server, seeded: Seeded, login: str) -> HistoryRun:
    object_id = seeded.busy_object
    expected = job_count(seeded, object_id)
    token = base64.b64encode(f"{login}:{seeded.passwords[login]}".encode()).decode()
    body = orjson.dumps({"objects": [object_id]})
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(HOST, server.port, timeout=300)
    try:
        # Authenticate once first, so the measured request is not the one paying for Argon2.
        conn.request("GET", "/node/api/users/current", headers=headers)
        conn.getresponse().read()
        before = server.rss()
        with PeakRss(server) as peak:
            started = time.perf_counter()
            conn.request("POST", "/node/api/jobs", body=body, headers=headers)
            response = conn.getresponse()
            first = response.read(1)
            first_byte = time.perf_counter() - started
            rest = response.read()
            total = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST /node/api/jobs answered {response.status}: {rest[:300]!r}")
    data = first + rest
    documents = orjson.loads(data)
    if len(documents) != expected:
        raise RuntimeError(f"POST /node/api/jobs answered {len(documents)} jobs, not {expected}")
    return HistoryRun(
        jobs=len(documents),
        bytes=len(data),
        first_byte_s=first_byte,
        total_s=total,
        rss_before_mib=before / 2**20,
        rss_growth_mib=max(0, peak.peak - before) / 2**20,
    )
