"""A TCP proxy tests put between a server and its database, to take the database away."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class Proxy:
    """A TCP proxy on 127.0.0.1 in a thread of its own: ``forward`` (to the target),
    ``hang`` (accept, never answer) or ``down`` (not listening; every connection closed)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.mode = "down"

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def set(self, mode: str) -> None:
        self._call(self._set(mode))

    async def _set(self, mode: str) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        self.mode = mode
        if mode != "down":
            self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _pipe(self, reader, writer) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _client(self, reader, writer) -> None:
        self.writers.add(writer)
        if self.mode == "hang":
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def close(self) -> None:
        self.set("down")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
