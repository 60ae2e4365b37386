"""Failures the domain and the layers above raise, each with a message for people.

What a failure means to an HTTP client (its status, its code, how its message is written)
is the API's business: api/errors.py maps each class to them.
"""

from __future__ import annotations


class OpsjobsError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidContent(OpsjobsError):
    """A request body that is not JSON."""


class BadRequest(OpsjobsError):
    """A request that asks for something impossible, or names it wrongly."""


class Forbidden(OpsjobsError):
    """The caller lacks the permission an action needs."""

    @classmethod
    def needs(cls, *permissions: str) -> Forbidden:
        return cls("Required permissions: " + " or ".join(permissions))


class NotFound(OpsjobsError):
    """Nothing by that name, or nothing the caller may see."""

    @classmethod
    def entity(cls, kind: str, entity_id: str) -> NotFound:
        return cls(f"Entity not found: {kind}({entity_id})")


class NotServed(OpsjobsError):
    """A SAYMON route family that belongs to monitoring, not to a jobs server (docs/api.md
    §17), said as such, so that no client takes it for an entity that does not exist."""

    def __init__(self, family: str, reason: str) -> None:
        super().__init__(f"Not served by opsjobs: {family} ({reason})")


class Conflict(OpsjobsError):
    """The request contradicts what is stored (a taken name, a finished job)."""


class PayloadTooLarge(OpsjobsError):
    """A request body over the size limit."""


class RequestTimeout(OpsjobsError):
    """A request body that did not arrive in time."""


class Unauthorized(OpsjobsError):
    """No caller could be identified (no credentials, an unknown token, an ended session)."""


class CrossSiteLogIn(Forbidden):
    """A log-in that a browser says another site's page sent (login CSRF, docs/api.md §3)."""

    def __init__(self) -> None:
        super().__init__("Log-in from another site's page is refused")


class WrongCsrfToken(OpsjobsError):
    """A cookie-authenticated change without the session's CSRF token (docs/api.md §3)."""

    def __init__(self) -> None:
        super().__init__("Wrong CSRF Token")


class InvalidCredentials(OpsjobsError):
    """A login and password that do not match a user who may log in."""

    def __init__(self) -> None:
        super().__init__("Invalid login or password.")


class TooManyRequests(OpsjobsError):
    """Too many attempts (failed logins); ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int, what: str = "failed logins") -> None:
        super().__init__(f"Too many {what}; retry in {retry_after} s")
        self.retry_after = retry_after
