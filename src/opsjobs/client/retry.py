"""When a request is sent again: only one that cannot do anything twice (a GET, or an execute
with an ``Idempotency-Key``, docs/api.md §10), after a ``503`` (the database was out of reach;
the contract says to retry, elsewhere too, §15) or a connection that failed or broke. A
timeout is not retried: the caller already waited long enough."""

from __future__ import annotations

from .calls import Call
from .errors import ClientError, ServiceUnavailable, TransportError

ATTEMPTS = 3
FIRST_DELAY_SECONDS = 0.2
MAX_DELAY_SECONDS = 10.0


def retriable(call: Call) -> bool:
    keyed = any(name.lower() == "idempotency-key" for name in call.headers)
    return call.method == "GET" or keyed


def retry_delay(call: Call, failure: ClientError, retries: int) -> float | None:
    """Seconds to wait before sending ``call`` again after ``retries`` retries, or None."""
    if retries >= ATTEMPTS or not retriable(call):
        return None
    if isinstance(failure, ServiceUnavailable):
        return min(failure.retry_after or 1.0, MAX_DELAY_SECONDS)
    if isinstance(failure, TransportError) and failure.retriable:
        return FIRST_DELAY_SECONDS * 2**retries
    return None
