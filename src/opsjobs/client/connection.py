"""What the sync and async clients share about the connection: the server's base URL, the
credentials on each request, timeouts, and keeping credentials out of messages and logs."""

from __future__ import annotations

import logging
import re
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import httpx

from .calls import API_PREFIX, Call
from .errors import ConfigError, TransportError

# A request waits this long for the server; a live stream much longer between two reads,
# since a quiet stream sends a keep-alive every 15 s (docs/api.md §8).
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=60.0)
TOKEN_PARAMETER = "auth-token"

_TOKEN_IN_URL = re.compile(r"(?<=[?&])((?:auth|api)-token)=[^&#\s\"']*", re.IGNORECASE)


def redact_url(text: str) -> str:
    """A URL or message with the value of any token parameter replaced by ``***``."""
    return _TOKEN_IN_URL.sub(r"\1=***", text)


class _RedactTokens(logging.Filter):
    """httpx logs every request's URL at INFO: the token passed in it must not follow."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactTokens())


def base_url(url: str) -> str:
    """The server's URL (``https://host:port``, with a path prefix behind a proxy, with or
    without ``/node/api``) as the base every path is joined to."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the server URL must be http:// or https:// with a host: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "the server URL must not hold credentials; "
            "set OPSJOBS_USER/OPSJOBS_PASSWORD or OPSJOBS_TOKEN instead"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"the server URL must have no query or fragment: {url!r}")
    path = parts.path.rstrip("/").removesuffix(API_PREFIX)
    return f"{parts.scheme}://{parts.netloc}{path}{API_PREFIX}"


def _user_agent() -> str:
    try:
        return f"opsjobs-client/{metadata.version('opsjobs')}"
    except metadata.PackageNotFoundError:
        return "opsjobs-client"


def http_options(
    url: str,
    *,
    login: str | None,
    password: str | None,
    token: str | None,
    verify: Any,
    timeout: httpx.Timeout | float | None,
) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` or ``httpx.AsyncClient``."""
    if (login is None) != (password is None):
        raise ConfigError("a login needs its password, and a password its login")
    if token is not None and login is not None:
        raise ConfigError("give either a token or a login and password, not both")
    options: dict[str, Any] = {
        "base_url": base_url(url),
        "verify": verify,
        "timeout": TIMEOUT if timeout is None else timeout,
        "headers": {"User-Agent": _user_agent(), "Accept": "application/json"},
        "follow_redirects": False,
    }
    if login is not None and password is not None:
        options["auth"] = httpx.BasicAuth(login, password)
    if token is not None:
        options["params"] = {TOKEN_PARAMETER: token}
    return options


def transport_error(call: Call, exc: httpx.HTTPError) -> TransportError:
    reason = redact_url(str(exc)) or type(exc).__name__
    retriable = isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError)
    return TransportError(f"{call.method} {API_PREFIX}{call.path}: {reason}", retriable)
