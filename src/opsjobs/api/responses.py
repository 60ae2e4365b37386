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


async def streamed_json(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """A JSON response streamed from ``chunks``, whose first chunk is made before answering.

    A failure while making it (the database is down) is then an ordinary error response, a
    503 or a 400, not a 200. A failure after it cannot change the status any more: the
    exception leaves the app and the server aborts the connection, so the client sees a
    broken response, never a complete-looking short one (api/errors.py).
    """
    first = await anext(chunks, b"")

    async def rest() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(rest(), media_type=JSON)
