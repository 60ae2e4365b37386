"""What can go wrong when talking to an opsjobs server, as exceptions a caller can catch.

Every refusal the server answers is a ``{"code", "message"}`` body (docs/api.md §2); each
code has its class here, so ``except NotFound`` reads like the contract. Failures to reach the
server, or answers that do not follow the contract, have classes of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


class ClientError(Exception):
    """Anything the client could not do."""


class ConfigError(ClientError):
    """The client's settings (environment or configuration file) cannot be used."""


class TransportError(ClientError):
    """The server could not be reached, or the connection broke or timed out."""

    def __init__(self, message: str, retriable: bool = False):
        super().__init__(message)
        self.retriable = retriable  # refused or broken, not timed out (retry.py)


class ProtocolError(ClientError):
    """The server answered something the contract does not describe."""


class ApiError(ClientError):
    """The server refused the request with a ``{"code", "message"}`` body."""

    code = "Error"

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def detail(self) -> str:
        """The message in words: a 401's message is SAYMON's inner JSON document (§3)."""
        try:
            inner = json.loads(self.message)
        except ValueError:
            return self.message
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        return self.message

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail}"


class BadRequest(ApiError):
    code = "BadRequest"


class InvalidContent(BadRequest):
    code = "InvalidContent"


class Unauthorized(ApiError):
    code = "Unauthorized"


class InvalidCredentials(Unauthorized):
    code = "InvalidCredentials"


class Forbidden(ApiError):
    code = "Forbidden"


class NotFound(ApiError):
    code = "ResourceNotFound"


class MethodNotAllowed(ApiError):
    code = "MethodNotAllowed"


class RequestTimeout(ApiError):
    code = "RequestTimeout"


class Conflict(ApiError):
    code = "Conflict"


class PayloadTooLarge(ApiError):
    code = "PayloadTooLarge"


class TooManyRequests(ApiError):
    code = "TooManyRequests"


class Internal(ApiError):
    code = "Internal"


class ServiceUnavailable(ApiError):
    code = "ServiceUnavailable"


ERRORS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        InvalidContent,
        Unauthorized,
        InvalidCredentials,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        Conflict,
        PayloadTooLarge,
        TooManyRequests,
        Internal,
        ServiceUnavailable,
    )
}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        seconds = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None


def error_from(status: int, headers: Mapping[str, str], content: bytes, reason: str) -> ApiError:
    """The exception for a refusal. A body that is not the contract's shape (a proxy's HTML
    page, say) still makes an ApiError, coded ``HTTP <status>``."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("message"), str)
    ):
        cls = ERRORS.get(body["code"], ApiError)
        return cls(status, body["code"], body["message"], _retry_after(headers))
    return ApiError(status, f"HTTP {status}", reason or "no error body", _retry_after(headers))
