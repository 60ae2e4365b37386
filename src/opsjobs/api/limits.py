"""Request bodies: read whole before the app runs, within a size and a time limit; JSON
whatever the client declared."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import OpsjobsError, PayloadTooLarge, RequestTimeout
from .errors import send_error


class BodyLimit:
    """The body of a request is read here, whole, before the app runs; the app reads it from
    memory (every route parses a whole JSON document anyway, and the size is bounded).

    - A declared Content-Length over ``max_bytes`` is refused at once, a body that grows past
      it while arriving (chunked) as soon as it does: 413.
    - The body must arrive within ``timeout_seconds``: a client that sends its headers and
      then stalls or trickles the body would otherwise hold the request and its connection
      for as long as it likes. 408.

    Either answer closes the connection. Refusing before the app runs also means no exception
    in the app keeps the server's ``receive`` alive: the server closes a connection whose body
    was not read only once nothing refers to it any more.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than {self.max_bytes} bytes")

    def _too_slow(self) -> RequestTimeout:
        return RequestTimeout(f"Request body did not arrive within {self.timeout_seconds:g} s")

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return True
        return False

    async def _read(self, receive: Receive) -> bytes | OpsjobsError | None:
        """The whole body; or the refusal to send; or None if the client went away."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        return self._too_large()
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            return self._too_slow()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await send_error(send, self._too_large(), close=True)
            return
        body = await self._read(receive)
        if body is None:
            return  # the client went away: nobody to answer
        if isinstance(body, OpsjobsError):
            await send_error(send, body, close=True)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: a disconnect, whenever it comes

        # The API speaks only JSON; clients such as plain `curl -d` send a form content type
        # with a JSON body, and SAYMON reads it as JSON all the same.
        # (Into the request's own scope, as the router writes the matched route there: the
        # request middleware outside reads it back, observe.py.)
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
        scope["headers"].append((b"content-type", b"application/json"))
        await self.app(scope, replay, send)
