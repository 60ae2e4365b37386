"""JSON responses encoded by orjson, straight to bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

JSON = "application/json"


def json_response(content: Any, status_code: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type=JSON, headers=headers
    )


def empty_response(status_code: int = 200) -> Response:
    return Response(b"", status_code=status_code)


# How much of a streamed answer is made before its status line goes out. An answer that
# ends within it is sent whole, with its length: a database failure anywhere in it is then a
# 503. Larger answers hold this much (and one batch more) at a time, whatever their length.
READ_AHEAD_BYTES = 256 * 1024


async def streamed_json(chunks: AsyncIterator[bytes]) -> Response:
    """A JSON response made from ``chunks``, of which up to ``READ_AHEAD_BYTES`` are made
    before answering.

    A failure while making those (the database is down) is then an ordinary error response,
    a 503 or a 400, not a 200; an answer that ends within them is sent as one body. A
    failure after them cannot change the status any more: the exception leaves the app and
    the server aborts the connection, so the client sees a broken response, never a
    complete-looking short one (api/errors.py).
    """
    ahead: list[bytes] = []
    size = 0
    while size < READ_AHEAD_BYTES:
        chunk = await anext(chunks, None)
        if chunk is None:
            return Response(b"".join(ahead), media_type=JSON)
        ahead.append(chunk)
        size += len(chunk)

    first = b"".join(ahead)

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(rest(), media_type=JSON)
