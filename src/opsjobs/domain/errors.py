"""Failures the domain and the layers above raise; the API maps each to its status and code."""

from __future__ import annotations

import orjson


class OpsjobsError(Exception):
    status = 500
    code = "Internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidContent(OpsjobsError):
    status = 400
    code = "InvalidContent"


class BadRequest(OpsjobsError):
    status = 400
    code = "BadRequest"


class Forbidden(OpsjobsError):
    status = 403
    code = "Forbidden"

    @classmethod
    def needs(cls, *permissions: str) -> Forbidden:
        return cls("Required permissions: " + " or ".join(permissions))


class NotFound(OpsjobsError):
    status = 404
    code = "ResourceNotFound"

    @classmethod
    def entity(cls, kind: str, entity_id: str) -> NotFound:
        return cls(f"Entity not found: {kind}({entity_id})")


class NotServed(OpsjobsError):
    """A SAYMON route family that belongs to monitoring, not to a jobs server (docs/api.md
    §17): 501, so that no client takes it for an entity that does not exist."""

    status = 501
    code = "NotImplemented"

    def __init__(self, family: str, reason: str) -> None:
        super().__init__(f"Not served by opsjobs: {family} ({reason})")


class Conflict(OpsjobsError):
    status = 409
    code = "Conflict"


class PayloadTooLarge(OpsjobsError):
    status = 413
    code = "PayloadTooLarge"


class RequestTimeout(OpsjobsError):
    status = 408
    code = "RequestTimeout"


def _auth_message(text: str) -> str:
    # SAYMON puts a JSON document inside the message string; clients parse it.
    return orjson.dumps({"errorCode": 3, "message": text}).decode()


class Unauthorized(OpsjobsError):
    status = 401
    code = "Unauthorized"

    def __init__(self, text: str) -> None:
        super().__init__(_auth_message(text))


class WrongCsrfToken(OpsjobsError):
    """A cookie-authenticated change without the session's CSRF token. SAYMON's message;
    403, not SAYMON's 401: the session is fine, and a 401 would tell a client to log in
    again (docs/api.md §3)."""

    status = 403
    code = "Forbidden"

    def __init__(self) -> None:
        super().__init__(_auth_message("Wrong CSRF Token"))


class InvalidCredentials(OpsjobsError):
    status = 401
    code = "InvalidCredentials"

    def __init__(self) -> None:
        super().__init__(_auth_message("Invalid login or password."))


class TooManyRequests(OpsjobsError):
    status = 429
    code = "TooManyRequests"

    def __init__(self, retry_after: int, what: str = "failed logins") -> None:
        super().__init__(f"Too many {what}; retry in {retry_after} s")
        self.retry_after = retry_after
