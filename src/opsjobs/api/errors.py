"""Every failure leaves as ``{"code", "message"}`` with its status; never a stack trace.

The one place where a failure of the layers below (domain/errors.py) becomes HTTP: its
status and code (``ANSWERS``), and how its message is written.
"""

from __future__ import annotations

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Send

from ..domain.entity_fields import CHANGED_ELSEWHERE, READ_ONLY
from ..domain.errors import (
    BadRequest,
    Conflict,
    CrossSiteLogIn,
    Forbidden,
    InvalidContent,
    InvalidCredentials,
    NotFound,
    NotServed,
    OpsjobsError,
    PayloadTooLarge,
    RequestTimeout,
    TooManyRequests,
    Unauthorized,
    WrongCsrfToken,
)
from ..store.db import database_error_types, unavailable
from .bodies import not_utf8
from .responses import JSON, json_response

log = structlog.get_logger("opsjobs.api")

# What a client is told to wait before retrying when the database is out of reach.
RETRY_AFTER_SECONDS = 5


# Each failure as the API answers it: (status, code). A subclass answers as its class; any
# other OpsjobsError is a bug, answered as one.
ANSWERS: dict[type[OpsjobsError], tuple[int, str]] = {
    InvalidContent: (400, "InvalidContent"),
    BadRequest: (400, "BadRequest"),
    Unauthorized: (401, "Unauthorized"),
    InvalidCredentials: (401, "InvalidCredentials"),
    Forbidden: (403, "Forbidden"),
    # 403, not SAYMON's 401: the session is fine, and a 401 would tell a client to log in
    # again; the message is SAYMON's, inside the JSON document its 401s carry.
    WrongCsrfToken: (403, "Forbidden"),
    CrossSiteLogIn: (403, "Forbidden"),
    NotFound: (404, "ResourceNotFound"),
    RequestTimeout: (408, "RequestTimeout"),
    Conflict: (409, "Conflict"),
    PayloadTooLarge: (413, "PayloadTooLarge"),
    TooManyRequests: (429, "TooManyRequests"),
    # A family of SAYMON's monitoring side: said as not served, never taken for a missing
    # entity (docs/api.md §17).
    NotServed: (501, "NotImplemented"),
}
_BUG = (500, "Internal")


def status_and_code(error: OpsjobsError) -> tuple[int, str]:
    for kind in type(error).__mro__:
        if kind in ANSWERS:
            return ANSWERS[kind]
    return _BUG


def _message(error: OpsjobsError, status: int) -> str:
    if status == 401 or isinstance(error, WrongCsrfToken):
        # SAYMON puts a JSON document inside the message string of a 401 (and of its CSRF
        # refusal); clients parse it.
        return orjson.dumps({"errorCode": 3, "message": error.message}).decode()
    return error.message


def _headers(error: OpsjobsError) -> dict[str, str] | None:
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    return None


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    return json_response({"code": code, "message": message}, status, headers)


def answer(error: OpsjobsError) -> Response:
    """The response to ``error``."""
    status, code = status_and_code(error)
    return error_response(status, code, _message(error, status), _headers(error))


async def send_error(send: Send, error: OpsjobsError, *, close: bool = False) -> None:
    """``answer(error)``, sent by an ASGI middleware that answers before the app runs;
    ``close`` ends the connection after it (the rest of the request was never read)."""
    status, code = status_and_code(error)
    body = orjson.dumps({"code": code, "message": _message(error, status)})
    headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(n.lower().encode(), v.encode()) for n, v in (_headers(error) or {}).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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


async def _on_opsjobs_error(_request: Request, exc: OpsjobsError) -> Response:
    return answer(exc)


async def _on_validation_error(_request: Request, exc: RequestValidationError) -> Response:
    code, message = _describe_validation(exc)
    return error_response(400, code, message)


async def _on_http_exception(request: Request, exc: HTTPException) -> Response:
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        # FastAPI reports a body that is not UTF-8 as a bare "error parsing the body".
        return answer(not_utf8(cause.start))
    if isinstance(cause, OpsjobsError):
        # And a body that parse_json refused (bodies.py) the same way: the refusal it hides.
        return answer(cause)
    if exc.status_code == 404:
        return error_response(
            404, "ResourceNotFound", f"Route not found: {request.method} {request.url.path}"
        )
    if exc.status_code == 405:
        return error_response(
            405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}"
        )
    return error_response(exc.status_code, "BadRequest", str(exc.detail))


async def _on_database_error(request: Request, exc: Exception) -> Response:
    # An outage (connection refused or lost, no free connection in time, SQLite locked)
    # is a 503 the client may retry; any other database error is a bug (_on_bug).
    if not unavailable(exc):
        raise exc
    log.warning(
        "database unavailable",
        method=request.method,
        path=request.url.path,
        error=_describe(exc),
    )
    return database_unavailable()


async def _on_bug(request: Request, exc: Exception) -> Response:
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


def install(app: FastAPI) -> None:
    app.add_exception_handler(OpsjobsError, _on_opsjobs_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    for kind in database_error_types():
        app.add_exception_handler(kind, _on_database_error)
    app.add_exception_handler(Exception, _on_bug)
