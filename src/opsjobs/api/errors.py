"""Every failure leaves as ``{"code", "message"}`` with its status; never a stack trace."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ..domain.entity_fields import CHANGED_ELSEWHERE, READ_ONLY
from ..domain.errors import OpsjobsError, TooManyRequests
from ..store.db import database_error_types, unavailable
from .bodies import not_utf8
from .responses import json_response

log = structlog.get_logger("opsjobs.api")

# What a client is told to wait before retrying when the database is out of reach.
RETRY_AFTER_SECONDS = 5


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    return json_response({"code": code, "message": message}, status, headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str]:
    """(code, message) for the first validation error, naming the parameter at fault."""
    errors = exc.errors()
    error = errors[0]
    kind = error.get("type", "")
    loc = [str(part) for part in error.get("loc", ())]
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "invalid JSON")
        position = loc[1] if len(loc) > 1 else "?"
        return "InvalidContent", f"Request body is not valid JSON at position {position}: {detail}"
    # A value that fits no member of a union (`str | list[str]`) fails once per member, each
    # loc ending in the member's type name; the parameter is what those locs share.
    for other in errors[1:]:
        other_loc = [str(part) for part in other.get("loc", ())]
        if other_loc[:2] == loc[:2]:
            shared = 0
            while shared < min(len(loc), len(other_loc)) and loc[shared] == other_loc[shared]:
                shared += 1
            loc = loc[:shared]
    where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc
    name = ".".join(where) or "body"
    return "BadRequest", f"{name}: {_reason(kind, where, error.get('msg', 'invalid value'))}"


def _reason(kind: str, where: list[str], message: str) -> str:
    if kind == "extra_forbidden":
        # A field of a body that takes only documented fields (api/models.py EntityBody).
        field = where[0] if len(where) == 1 else None
        if field in READ_ONLY:
            return "read-only, set by the server"
        return CHANGED_ELSEWHERE.get(field, "unknown field")
    return message


def database_unavailable():
    return error_response(
        503,
        "ServiceUnavailable",
        "The database is unavailable; try again later",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _describe(exc: BaseException) -> str:
    """One line naming an exception, for a log event that needs no traceback."""
    first_line = str(exc).strip().split("\n", 1)[0]
    return f"{type(exc).__name__}: {first_line[:300]}"


def install(app: FastAPI) -> None:
    @app.exception_handler(OpsjobsError)
    async def on_opsjobs_error(_request: Request, exc: OpsjobsError):
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        )
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, exc: RequestValidationError):
        code, message = _describe_validation(exc)
        return error_response(400, code, message)

    @app.exception_handler(HTTPException)
    async def on_http_exception(request: Request, exc: HTTPException):
        if isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI reports a body that is not UTF-8 as a bare "error parsing the body".
            error = not_utf8(exc.__cause__.start)
            return error_response(error.status, error.code, error.message)
        if exc.status_code == 404:
            return error_response(
                404, "ResourceNotFound", f"Route not found: {request.method} {request.url.path}"
            )
        if exc.status_code == 405:
            return error_response(
                405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}"
            )
        return error_response(exc.status_code, "BadRequest", str(exc.detail))

    async def on_database_error(request: Request, exc: Exception):
        # An outage (connection refused or lost, no free connection in time, SQLite locked)
        # is a 503 the client may retry; any other database error is a bug (on_bug).
        if not unavailable(exc):
            raise exc
        log.warning(
            "database unavailable",
            method=request.method,
            path=request.url.path,
            error=_describe(exc),
        )
        return database_unavailable()

    for kind in database_error_types():
        app.add_exception_handler(kind, on_database_error)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception):
        # Only the path: the query string may carry an auth-token, headers carry credentials.
        # The traceback is rendered without local variables (logs.py).
        if unavailable(exc):
            # The database failed after the response had begun (a streamed list): the server
            # aborts the connection, so the client sees a broken response, never a short one.
            log.warning(
                "database unavailable while responding",
                method=request.method,
                path=request.url.path,
                error=_describe(exc.__cause__ or exc),
            )
            return database_unavailable()
        log.exception("unhandled error", method=request.method, path=request.url.path)
        return error_response(500, "Internal", "Internal server error")
