"""The asyncio client: every route of routes.py, each method a coroutine."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .calls import Call, finish, refusal, segment
from .connection import STREAM_TIMEOUT, http_options, transport_error
from .errors import ServiceUnavailable, TransportError
from .events import EndEvent, Event, EventParser, Resume
from .retry import retry_delay
from .routes import Routes
from .sync import STREAM_CLOSED


class AsyncClient(Routes):
    """As :class:`opsjobs.client.Client`, awaited: ``await client.get_job(job_id)``;
    ``async with AsyncClient(...)``, or ``await client.aclose()``."""

    def __init__(
        self,
        url: str,
        *,
        login: str | None = None,
        password: str | None = None,
        token: str | None = None,
        verify: Any = True,
        timeout: httpx.Timeout | float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = http_options(
            url, login=login, password=password, token=token, verify=verify, timeout=timeout
        )
        self._http = httpx.AsyncClient(transport=transport, **options)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call) -> Any:
        for retries in itertools.count():
            try:
                return await self._send_once(call)
            except (ServiceUnavailable, TransportError) as failure:
                delay = retry_delay(call, failure, retries)
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def _send_once(self, call: Call) -> Any:
        try:
            response = await self._http.request(
                call.method, call.path, **call.request_options(self._http.cookies)
            )
        except httpx.TransportError as exc:
            raise transport_error(call, exc) from exc
        return finish(call, response)

    async def stream_job(
        self, job_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        """As ``Client.stream_job``, iterated with ``async for``."""
        call = Call(
            "GET", f"/jobs/{segment(job_id)}/stream", headers={"Accept": "text/event-stream"}
        )
        resume = Resume(last_event_id)
        while True:
            try:
                async with self._http.stream(
                    call.method,
                    call.path,
                    headers={**call.headers, **resume.headers()},
                    timeout=STREAM_TIMEOUT,
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise refusal(response)
                    parser = EventParser()
                    async for text in response.aiter_text():
                        for event in parser.feed_text(text):
                            resume.seen(event)
                            yield event
                            if isinstance(event, EndEvent):
                                return
                reason = STREAM_CLOSED
            except httpx.TransportError as exc:
                reason = str(transport_error(call, exc))
            await asyncio.sleep(resume.broken(reason))
