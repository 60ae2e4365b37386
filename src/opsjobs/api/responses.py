"""JSON responses encoded by orjson, straight to bytes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"


def json_response(content: Any, status_code: int = 200, headers: dict | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type=JSON, headers=headers
    )


def empty_response(status_code: int = 200) -> Response:
    return Response(b"", status_code=status_code)
