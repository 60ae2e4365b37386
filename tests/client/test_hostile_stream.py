"""A hostile or broken server behind a job stream: lines that never end, events that never
end. The client gives up with a ProtocolError once an event passes its bound, instead of
holding all of it in memory; line ends of every kind, split anywhere, still parse."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator

import pytest

from opsjobs.client import events
from opsjobs.client.asynchronous import AsyncClient
from opsjobs.client.errors import ProtocolError
from opsjobs.client.events import EndEvent, EventParser, OutputEvent
from opsjobs.client.sync import Client

BOUND = 256 * 1024
SENT_AT_MOST = 256 * BOUND  # stops by itself; the client must hang up long before
JOB = "6b0c3a99109606ffd3a35595"
SHAPES = {
    "a line that never ends": (b"data: ", b"x" * 8192),
    "data lines without an event end": (b"", b"data: " + b"y" * 8186 + b"\n"),
}


class _Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    shape = b"", b""
    sent = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        start, piece = self.shape
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            self.wfile.write(start)
            while type(self).sent < SENT_AT_MOST:
                self.wfile.write(piece)
                type(self).sent += len(piece)
        except OSError:
            pass  # the client hung up: what it should do

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(params=sorted(SHAPES))
def hostile(request, monkeypatch) -> Iterator[tuple[str, type]]:
    monkeypatch.setattr(events, "MAX_EVENT_CHARS", BOUND)
    handler = type("Handler", (_Hostile,), {"shape": SHAPES[request.param], "sent": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_sync_client_stops_at_the_bound(hostile):
    url, handler = hostile
    with Client(url, login="someone", password="pw-1") as client:
        with pytest.raises(ProtocolError, match="longer than"):
            list(client.stream_job(JOB))
    assert handler.sent < SENT_AT_MOST


def test_the_async_client_stops_at_the_bound(hostile):
    url, handler = hostile

    async def read() -> None:
        async with AsyncClient(url, login="someone", password="pw-1") as client:
            async for _ in client.stream_job(JOB):
                pass

    with pytest.raises(ProtocolError, match="longer than"):
        asyncio.run(read())
    assert handler.sent < SENT_AT_MOST


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"])
@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_line_ends_of_every_kind_split_anywhere(end, piece):
    text = end.join(
        [
            ": keep-alive",
            "",
            "event: output",
            'data: {"stream": "stdout", "offset": 0, "data": "a\\u2028b"}',
            "id: 1:0",
            "",
            "event: end",
            'data: {"id": "j"}',
            "",
            "",
        ]
    )
    parser = EventParser()
    found = []
    for start in range(0, len(text), piece):
        found += parser.feed_text(text[start : start + piece])
    assert found == [OutputEvent("stdout", 0, "a\u2028b", "1:0"), EndEvent({"id": "j"})]
