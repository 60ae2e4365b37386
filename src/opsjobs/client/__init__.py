"""A client for the opsjobs API (docs/api.md), blocking (:class:`Client`) or for asyncio
(:class:`AsyncClient`), with the same methods: ``client.get_job(job_id)`` or
``await client.get_job(job_id)``.

It stands on its own: it imports nothing else of opsjobs, so it can be copied or packaged
alone with httpx.
"""

from .asynchronous import AsyncClient
from .calls import STATUSES, JobQuery
from .config import ClientConfig
from .errors import (
    ApiError,
    BadRequest,
    ClientError,
    ConfigError,
    Conflict,
    Forbidden,
    Internal,
    InvalidContent,
    InvalidCredentials,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProtocolError,
    RequestTimeout,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from .events import EndEvent, Event, OutputEvent
from .sync import Client

__all__ = [
    "STATUSES",
    "ApiError",
    "AsyncClient",
    "BadRequest",
    "Client",
    "ClientConfig",
    "ClientError",
    "ConfigError",
    "Conflict",
    "EndEvent",
    "Event",
    "Forbidden",
    "Internal",
    "InvalidContent",
    "InvalidCredentials",
    "JobQuery",
    "MethodNotAllowed",
    "NotFound",
    "OutputEvent",
    "PayloadTooLarge",
    "ProtocolError",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
]
