"""JSON request bodies: every one is read by domain.values.parse_json, which refuses what
could not be stored, run or sent back (depth, numbers, NUL) before any route sees it.

FastAPI routes read their bodies through ``CheckedRoute`` (every APIRouter of the app is made
with it; tests/api/test_inputs.py holds them to it). The hot routes (see routes/jobs.py,
routes/execute.py) skip FastAPI's per-request machinery and read theirs with ``json_body``,
which gives the same answers: invalid JSON is the same InvalidContent with its position, a
value of the wrong shape the same BadRequest naming ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..domain.errors import BadRequest, InvalidContent
from ..domain.values import parse_json

T = TypeVar("T")


def refuse_nulls(changes: dict, fields: tuple[str, ...]) -> None:
    """Fields of a change (a PATCH body) that may be left out but not set to null."""
    for field in fields:
        if field in changes and changes[field] is None:
            raise BadRequest(f"{field}: must not be null")


def not_utf8(position: int) -> InvalidContent:
    return InvalidContent(f"Request body is not valid JSON at position {position}: not UTF-8")


async def json_body(request: Request, shape: TypeAdapter[T], name: str | None = None) -> T | None:
    """The body as ``shape``; None for an empty body (an optional body left out). ``name``
    is what a refusal calls the body (see parse_json)."""
    body = await request.body()
    if not body:
        return None
    try:
        value = parse_json(body, name)
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


class _CheckedRequest(Request):
    async def json(self) -> Any:
        # FastAPI answers an error raised here (parse_json's refusal, a body that is not
        # UTF-8) with a bare "There was an error parsing the body", an HTTPException whose
        # cause is the error; api/errors.py answers the cause instead.
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class CheckedRoute(APIRoute):
    """A FastAPI route whose JSON body is read by parse_json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(_CheckedRequest(request.scope, request.receive))

        return checked
