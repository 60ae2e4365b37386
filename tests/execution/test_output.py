"""Output capping (docs/api.md §10): the rule on whole strings, and its streaming forms."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from opsjobs.domain.output import STDERR, STDOUT
from opsjobs.execution.output import (
    HEAD_BYTES,
    MARKER_RESERVE,
    CappedBuffer,
    OutputRecorder,
    StreamRecorder,
    cap_output,
    marker,
)

MARKER = re.compile(rb"\n\[opsjobs: (\d+) bytes left out\]\n")

caps = st.integers(min_value=0, max_value=600)
heads = st.integers(min_value=0, max_value=300)
payloads = st.binary(max_size=2000)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


@given(payloads, caps, heads)
def test_short_output_is_kept_whole(data, cap, head):
    if len(data) <= cap:
        assert cap_output(data, cap, head) == (data, False)


@given(payloads, caps, heads)
def test_long_output_keeps_head_marker_and_most_recent_rest(data, cap, head):
    capped, truncated = cap_output(data, cap, head)
    if len(data) <= cap:
        return
    assert truncated
    kept_head = min(head, cap // 2)
    kept_tail = max(0, cap - kept_head - MARKER_RESERVE)
    assert capped.startswith(data[:kept_head])
    assert capped.endswith(data[len(data) - kept_tail :])
    found = MARKER.fullmatch(capped[kept_head : len(capped) - kept_tail])
    assert found, "exactly one marker line joins the head and the rest"
    assert kept_head + int(found.group(1)) + kept_tail == len(data)
    assert len(capped) <= max(cap, cap // 2 + MARKER_RESERVE)


@given(payloads, caps, heads, st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_streaming_buffer_matches_the_rule_however_it_is_fed(data, cap, head, cuts):
    buffer = CappedBuffer(cap, head)
    for piece in split(data, cuts):
        buffer.feed(piece)
        # Bounded: never more than the cap is held, whatever has been fed.
        assert len(buffer._head) + len(buffer._rest) <= max(cap, 0)
    assert buffer.total == len(data)
    assert (buffer.value(), buffer.truncated) == cap_output(data, cap, head)


def expected_stored(data: bytes, cap: int, head: int) -> bytes:
    """What live storage holds at the end: the first cap bytes, then the capped ending."""
    if len(data) <= cap:
        return data
    tail = max(0, cap - min(head, cap // 2) - MARKER_RESERVE)
    missing = len(data) - cap
    if missing <= tail:
        return data
    return data[:cap] + marker(missing - tail) + (data[len(data) - tail :] if tail else b"")


@given(
    payloads,
    caps,
    heads,
    st.lists(st.tuples(st.integers(min_value=0, max_value=2000), st.booleans()), max_size=12),
)
def test_live_chunks_are_contiguous_and_end_like_the_description(data, cap, head, plan):
    recorder = StreamRecorder(STDOUT, cap, head)
    chunks = []
    start = 0
    for cut, flush in sorted(plan):
        cut = min(cut, len(data))
        recorder.feed(data[start:cut])
        start = max(start, cut)
        if flush:
            chunks += recorder.take_chunks()
    recorder.feed(data[start:])
    chunks += recorder.final_chunks()
    offset = 0
    for seq, chunk in enumerate(chunks):
        assert (chunk.stream, chunk.seq, chunk.offset) == (STDOUT, seq, offset)
        assert chunk.data
        offset += len(chunk.data)
    stored = b"".join(c.data for c in chunks)
    assert stored == expected_stored(data, cap, head)
    description, _ = cap_output(data, cap, head)
    kept_head = min(head, cap // 2)
    assert stored[:kept_head] == description[:kept_head]
    if len(data) > cap:
        kept_tail = max(0, cap - kept_head - MARKER_RESERVE)
        assert stored[len(stored) - kept_tail :] == description[len(description) - kept_tail :]
    assert len(stored) <= 2 * max(cap, MARKER_RESERVE)


@settings(max_examples=25)
@given(st.integers(min_value=0, max_value=5))
def test_the_default_head_is_64_kib(extra_mib):
    cap = 1024 * 1024
    data = bytes(range(256)) * (4096 * (4 + extra_mib) + 1)
    capped, truncated = cap_output(data, cap)
    assert truncated and len(capped) <= cap
    assert capped[:HEAD_BYTES] == data[:HEAD_BYTES]
    assert MARKER.search(capped).start() == HEAD_BYTES


def test_text_is_decoded_without_failing_on_bytes_that_are_not_utf8():
    recorder = OutputRecorder(cap=100)
    recorder.stdout.feed(b"caf\xc3\xa9 \xff\xfe ok")
    recorder.stderr.feed("naïve ✓".encode())
    stdout, stderr = recorder.texts()
    assert stdout == "café \ufffd\ufffd ok"
    assert stderr == "naïve ✓"
    assert not recorder.truncated
    assert [c.stream for c in recorder.take_chunks()] == [STDOUT, STDERR]


def test_a_stream_past_its_cap_marks_the_recorder_truncated():
    recorder = OutputRecorder(cap=200)
    recorder.stderr.feed(b"x" * 201)
    assert recorder.truncated
    _, stderr = recorder.texts()
    assert "bytes left out]" in stderr
