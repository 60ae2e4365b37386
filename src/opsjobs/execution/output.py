"""Capturing a job's output with the cap of docs/api.md §10, in bounded memory.

Per stream, past ``cap`` bytes opsjobs keeps the first ``HEAD_BYTES`` and the most recent
rest, joined by one marker line saying how many bytes were left out. ``cap_output`` states
the rule on a whole byte string; ``CappedBuffer`` applies it to a stream fed in pieces while
holding at most ``cap`` bytes, so a script writing gigabytes costs no more memory than one
writing exactly the cap.

Live storage (what /output and /stream serve while a job runs) follows the same bound: the
first ``cap`` bytes of a stream are stored as they come; past that, storing stops, and when
the job ends the stream is completed with the marker line and the same recent rest as the
description. Offsets stay stable (nothing stored is ever rewritten), the stored stream begins
and ends like the description, and it never exceeds about twice the cap.
"""

from __future__ import annotations

from ..domain.output import STDERR, STDOUT, Chunk

HEAD_BYTES = 64 * 1024
# Room kept for the marker line, so head + marker + tail never exceeds the cap.
MARKER_RESERVE = 64


def marker(left_out: int) -> bytes:
    return f"\n[opsjobs: {left_out} bytes left out]\n".encode()


def _layout(cap: int, head: int) -> tuple[int, int]:
    """(head, tail) sizes kept for a given cap: the head never takes more than half."""
    head = max(0, min(head, cap // 2))
    return head, max(0, cap - head - MARKER_RESERVE)


def cap_output(data: bytes, cap: int, head: int = HEAD_BYTES) -> tuple[bytes, bool]:
    """The capped form of a whole stream, and whether anything was cut."""
    if len(data) <= cap:
        return data, False
    head, tail = _layout(cap, head)
    kept_tail = data[len(data) - tail :] if tail else b""
    return data[:head] + marker(len(data) - head - tail) + kept_tail, True


class CappedBuffer:
    """``cap_output`` of everything fed so far, holding at most about ``cap`` bytes."""

    def __init__(self, cap: int, head: int = HEAD_BYTES) -> None:
        self.cap = cap
        self.head_size, self.tail_size = _layout(cap, head)
        self.total = 0
        self._head = bytearray()
        # Up to the cap, everything after the head is kept (it may all be shown); past it,
        # only the last ``tail_size`` bytes. Deleting from a bytearray's front is cheap.
        self._rest = bytearray()

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_size - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        self._rest += data
        keep = max(self.cap - self.head_size, self.tail_size)
        if len(self._rest) > keep:
            del self._rest[: len(self._rest) - keep]

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def tail(self) -> bytes:
        """The most recent bytes after the head (at most ``tail_size`` once truncated)."""
        if self.truncated:
            return bytes(self._rest[len(self._rest) - self.tail_size :]) if self.tail_size else b""
        return bytes(self._rest)

    def value(self) -> bytes:
        if not self.truncated:
            return bytes(self._head + self._rest)
        left_out = self.total - self.head_size - self.tail_size
        return bytes(self._head) + marker(left_out) + self.tail()


class StreamRecorder:
    """One stream of one job: the capped text for the description, and chunks to store live."""

    def __init__(self, stream: int, cap: int, head: int = HEAD_BYTES) -> None:
        self.stream = stream
        self.capture = CappedBuffer(cap, head)
        self._live_limit = cap
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._stored = 0  # bytes handed out as chunks so far: the next chunk's offset
        self._seq = 0

    def feed(self, data: bytes) -> None:
        self.capture.feed(data)
        room = self._live_limit - self._stored - self._pending_size
        if room > 0 and data:
            piece = data[:room]
            self._pending.append(piece)
            self._pending_size += len(piece)

    @property
    def has_pending(self) -> bool:
        return self._pending_size > 0

    def _chunk(self, data: bytes) -> Chunk:
        chunk = Chunk(self.stream, self._seq, self._stored, data)
        self._seq += 1
        self._stored += len(data)
        return chunk

    def take_chunks(self) -> list[Chunk]:
        """What was fed since the last call, as one chunk to store (or none)."""
        if not self._pending:
            return []
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return [self._chunk(data)]

    def final_chunks(self) -> list[Chunk]:
        """The remaining chunks once the stream has ended, completing it past the cap."""
        chunks = self.take_chunks()
        missing = self.capture.total - self._stored
        if missing > 0:
            tail = self.capture.tail()
            if missing <= len(tail):
                chunks.append(self._chunk(tail[len(tail) - missing :]))
            else:
                chunks.append(self._chunk(marker(missing - len(tail)) + tail))
        return chunks


class OutputRecorder:
    """Both streams of one job."""

    def __init__(self, cap: int, head: int = HEAD_BYTES) -> None:
        self.stdout = StreamRecorder(STDOUT, cap, head)
        self.stderr = StreamRecorder(STDERR, cap, head)

    @property
    def truncated(self) -> bool:
        return self.stdout.capture.truncated or self.stderr.capture.truncated

    @property
    def has_pending(self) -> bool:
        return self.stdout.has_pending or self.stderr.has_pending

    def take_chunks(self) -> list[Chunk]:
        return self.stdout.take_chunks() + self.stderr.take_chunks()

    def final_chunks(self) -> list[Chunk]:
        return self.stdout.final_chunks() + self.stderr.final_chunks()

    def texts(self) -> tuple[str, str]:
        """stdout and stderr as text; bytes that are not UTF-8 become U+FFFD, never an error."""
        return (
            self.stdout.capture.value().decode("utf-8", errors="replace"),
            self.stderr.capture.value().decode("utf-8", errors="replace"),
        )
