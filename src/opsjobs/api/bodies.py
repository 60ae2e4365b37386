"""JSON request bodies for plain Starlette routes, read and refused as FastAPI would.

The hot routes (see routes/jobs.py, routes/execute.py) skip FastAPI's per-request machinery;
their bodies still give the same answers: invalid JSON is the same InvalidContent with its
position, a value of the wrong shape the same BadRequest naming ``body``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request

from ..domain.errors import InvalidContent

T = TypeVar("T")


def not_utf8(position: int) -> InvalidContent:
    return InvalidContent(f"Request body is not valid JSON at position {position}: not UTF-8")


async def json_body(request: Request, shape: TypeAdapter[T]) -> T | None:
    """The body as ``shape``; None for an empty body (an optional body left out)."""
    body = await request.body()
    if not body:
        return None
    try:
        value = json.loads(body)  # what FastAPI reads bodies with, errors included
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    except UnicodeDecodeError as exc:
        raise not_utf8(exc.start) from None
    try:
        return shape.validate_python(value)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors()
        ]
        raise RequestValidationError(errors) from None
