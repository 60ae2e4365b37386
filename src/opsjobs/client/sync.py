"""The blocking client: every route of routes.py, answered as values."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx

from .calls import Call, finish, refusal, segment
from .connection import STREAM_TIMEOUT, http_options, transport_error
from .errors import ServiceUnavailable, TransportError
from .events import EndEvent, Event, EventParser, Resume
from .retry import retry_delay
from .routes import Routes

STREAM_CLOSED = "the server closed the stream before the job ended"


class Client(Routes):
    """``Client("https://opsjobs.example", login=..., password=...)`` or ``token=...``;
    use it as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        login: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify: Any = True,
        timeout: httpx.Timeout | float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = http_options(
            url, login=login, password=password, token=token, verify=verify, timeout=timeout
        )
        self._http = httpx.Client(transport=transport, **options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call) -> Any:
        for retries in itertools.count():
            try:
                return self._send_once(call)
            except (ServiceUnavailable, TransportError) as failure:
                delay = retry_delay(call, failure, retries)
                if delay is None:
                    raise
                time.sleep(delay)

    def _send_once(self, call: Call) -> Any:
        try:
            response = self._http.request(
                call.method, call.path, **call.request_options(self._http.cookies)
            )
        except httpx.TransportError as exc:
            raise transport_error(call, exc) from exc
        return finish(call, response)

    def stream_job(self, job_id: str, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's output as it comes (``OutputEvent``s), then one ``EndEvent`` with the
        finished job. A broken connection is resumed where it stopped (events.Resume)."""
        call = Call(
            "GET", f"/jobs/{segment(job_id)}/stream", headers={"Accept": "text/event-stream"}
        )
        resume = Resume(last_event_id)
        while True:
            try:
                with self._http.stream(
                    call.method,
                    call.path,
                    headers={**call.headers, **resume.headers()},
                    timeout=STREAM_TIMEOUT,
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        raise refusal(response)
                    parser = EventParser()
                    for text in response.iter_text():
                        for event in parser.feed_text(text):
                            resume.seen(event)
                            yield event
                            if isinstance(event, EndEvent):
                                return
                reason = STREAM_CLOSED
            except httpx.TransportError as exc:
                reason = str(transport_error(call, exc))
            time.sleep(resume.broken(reason))
