"""Job control (docs/api.md §8): output from an offset, a live event stream, cancelling.

Each route reads the job row before its output. A job is finished in the same transaction
that stores its last output, so a reader who saw it finished is sure to get all of it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from ...domain.errors import Conflict, InvalidCredentials, TooManyRequests, Unauthorized
from ...domain.jobs import JobRow, JobStatus, job_document
from ...domain.output import STDERR, STDOUT, STREAMS
from ...domain.users import Principal
from ...domain.values import INT64_MAX
from ...store.output import read_output
from ...store.queue import cancel
from .. import sse
from ..bodies import CheckedRoute
from ..context import Context
from ..guards import may_see_job, read_visible_job, require_any
from ..models import Count, JobModel, error_responses
from ..responses import JSON

# Per answer of /output and per event of /stream: memory per request stays bounded.
READ_LIMIT = 1024 * 1024
# How often /stream looks for output written by another process (this process's runner
# wakes it at once), and how often it shows a silent connection is still alive.
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


class OutputModel(BaseModel):
    stream: Literal["stdout", "stderr"]
    offset: int
    next: int
    data: str
    finished: bool
    status: str


def complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a UTF-8 sequence cut short at its end, so the next
    read starts on a character boundary."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xF8:  # never part of UTF-8: nothing to wait for
            return len(data)
        if byte >= 0xC0:  # a lead byte: how long should its sequence be?
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if back < needed else len(data)
    return len(data)


def _finished(row: JobRow) -> bool:
    return JobStatus(row.status).finished


def _resume_offsets(last_event_id: str | None) -> dict[int, int]:
    """Offsets from an EventSource's Last-Event-ID (``<stdout>:<stderr>``), to resume."""
    with contextlib.suppress(ValueError, AttributeError):
        out, err = (int(part) for part in last_event_id.split(":"))
        if 0 <= out <= INT64_MAX and 0 <= err <= INT64_MAX:
            return {STDOUT: out, STDERR: err}
    return {STDOUT: 0, STDERR: 0}


def router(ctx: Context) -> APIRouter:
    api = APIRouter(route_class=CheckedRoute, tags=["job control"])
    store, auth = ctx.store, ctx.auth

    async def caller_and_job(request: Request, job_id: str) -> tuple[Principal, JobRow]:
        """The caller, and the job if the caller may see it (guards.read_visible_job)."""
        principal = await auth.authenticate(request)
        return principal, await read_visible_job(store, principal, job_id)

    @api.get(
        "/jobs/{job_id}/output",
        summary="Output of a job from a byte offset (works while it runs)",
        response_model=None,
        responses={200: {"model": OutputModel}, **error_responses(400, 401, 404, 429)},
    )
    async def job_output(
        job_id: str,
        request: Request,
        stream: Literal["stdout", "stderr"] = "stdout",
        offset: Annotated[Count, Query()] = 0,
        limit: Annotated[int, Query(ge=1, le=READ_LIMIT)] = READ_LIMIT,
    ) -> Response:
        _, row = await caller_and_job(request, job_id)
        finished = _finished(row)
        data = await read_output(store, job_id, STREAMS[stream], offset, limit)
        # A character cut by the limit or by a chunk still being written is left for the
        # next read; at the very end of a finished job, bytes that are not UTF-8 stay in.
        if not finished or len(data) == limit:
            cut = complete_utf8(data)
            if cut > 0 or len(data) < limit:  # (a tiny limit must still make progress)
                data = data[:cut]
        answer = {
            "stream": stream,
            "offset": offset,
            "next": offset + len(data),
            "data": data.decode("utf-8", errors="replace"),
            "finished": finished,
            "status": row.status,
        }
        return Response(orjson.dumps(answer), media_type=JSON)

    async def still_visible(request: Request, revision: int, row: JobRow) -> bool:
        """Whether the caller of a stream may still see its job, on a directory (users, rights,
        sessions, the tree) at least as new as ``revision``, read with the row: a revoked
        right, a blocked user or an ended session ends the stream, made here or elsewhere."""
        await store.catch_up(revision)
        try:
            principal = await auth.identify(request)
        except (Unauthorized, InvalidCredentials, TooManyRequests):
            return False
        return may_see_job(store, principal, row)

    async def events(
        request: Request, job_id: str, offsets: dict[int, int], checked: int
    ) -> AsyncIterator[bytes]:
        """``checked``: the directory revision the caller was found allowed on."""
        decoders = {n: codecs.getincrementaldecoder("utf-8")("replace") for n in offsets}
        names = {number: name for name, number in STREAMS.items()}
        with store.job_signals.watch(job_id) as changed:
            quiet_since = time.monotonic()
            while True:
                changed.clear()
                revision, row = await store.job_row_at(job_id)
                if row is None:  # the job row is gone: nothing more to send
                    return
                if revision > checked:
                    if not await still_visible(request, revision, row):
                        return
                    checked = revision
                sent = False
                for number in offsets:
                    while data := await read_output(
                        store, job_id, number, offsets[number], READ_LIMIT
                    ):
                        start = offsets[number]
                        offsets[number] += len(data)
                        text = decoders[number].decode(data)
                        event_id = f"{offsets[STDOUT]}:{offsets[STDERR]}"
                        payload = {"stream": names[number], "offset": start, "data": text}
                        yield sse.event("output", payload, event_id)
                        sent = True
                        if len(data) < READ_LIMIT:
                            break
                if _finished(row):
                    yield sse.event("end", job_document(row))
                    return
                if sent:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    yield sse.KEEPALIVE
                    quiet_since = time.monotonic()
                with contextlib.suppress(TimeoutError):  # not wait_for: see app.py
                    async with asyncio.timeout(POLL_SECONDS):
                        await changed.wait()

    @api.get(
        "/jobs/{job_id}/stream",
        summary="Live output of a job as Server-Sent Events",
        description="Events `output` ({stream, offset, data}) with what was produced so far, "
        "then live output, then one `end` event carrying the finished job document. Event "
        "IDs are `<stdout offset>:<stderr offset>`; `Last-Event-ID` resumes from there.",
        response_model=None,
        responses={
            200: {"content": {sse.EVENT_STREAM: {}}},
            **error_responses(401, 404, 429),
        },
    )
    async def job_stream(job_id: str, request: Request) -> Response:
        await caller_and_job(request, job_id)
        checked = store.directory.revision
        offsets = _resume_offsets(request.headers.get("last-event-id"))
        return StreamingResponse(
            events(request, job_id, offsets, checked),
            media_type=sse.EVENT_STREAM,
            headers=sse.HEADERS,
        )

    @api.post(
        "/jobs/{job_id}/cancel",
        summary="Cancel a job",
        description="A queued job is cancelled at once (200); a running one is signalled "
        "and ends `cancelled` (202). A finished job cannot be cancelled (409).",
        response_model=None,
        responses={
            200: {"model": JobModel},
            202: {"model": JobModel},
            **error_responses(401, 403, 404, 409, 429),
        },
    )
    async def cancel_job(job_id: str, request: Request) -> Response:
        principal, _ = await caller_and_job(request, job_id)
        require_any(principal, "execute-operations")
        outcome = await cancel(store, job_id)
        row = await store.job_row(job_id)
        if outcome is None or row is None:
            status = row.status if row is not None else "gone"
            raise Conflict(f"Job {job_id} has already finished ({status})")
        code = 200 if outcome is JobStatus.CANCELLED else 202
        return Response(orjson.dumps(job_document(row)), status_code=code, media_type=JSON)

    return api
