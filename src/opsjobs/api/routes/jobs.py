"""Jobs (docs/api.md §5–§7): one job, history lists, custom results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import Response

from ...domain.clock import now_ms
from ...domain.errors import BadRequest, NotFound, Unauthorized
from ...domain.ids import is_object_id
from ...domain.jobs import history_document, job_document
from ...domain.kinds import EntityKind
from ...store.jobs import JobFilter, append_result, stream_history
from ..bodies import CheckedRoute
from ..context import Context, context
from ..fast import FastRoutes
from ..guards import (
    read_visible_job,
    require_any,
    visible_history,
    visible_job,
    visible_owners,
)
from ..models import (
    Count,
    HistoryJobModel,
    JobModel,
    JobsQuery,
    JobStatusName,
    Millis,
    error_responses,
)
from ..responses import JSON, streamed_json

_LIST_ERRORS = error_responses(400, 401, 403, 404, 429)

router = APIRouter(route_class=CheckedRoute, tags=["jobs"])
# GET /jobs/:id is served as a plain route ahead of FastAPI's (api/fast.py).
hot = FastRoutes(router)


async def _history_stream(
    ctx: Context, owner_ids: list[str], owner_type: int, flt: JobFilter
) -> AsyncIterator[bytes]:
    # Rows are encoded batch by batch as the cursor yields them: memory stays flat however
    # long the history is. A chunk holds a batch; streamed_json makes the first of them, and
    # a short history whole, before the status line goes out.
    opening = b"["
    async for rows in stream_history(ctx.store, owner_ids, owner_type, flt):
        yield opening + b",".join(orjson.dumps(history_document(row)) for row in rows)
        opening = b","
    yield b"[]" if opening == b"[" else b"]"


async def history_response(
    ctx: Context, owner_ids: list[str], owner_type: int, flt: JobFilter
) -> Response:
    return await streamed_json(_history_stream(ctx, owner_ids, owner_type, flt))


def list_filter(
    time_from: Annotated[Millis | None, Query(alias="from")] = None,
    time_to: Annotated[Millis | None, Query(alias="to")] = None,
    limit: Annotated[Count | None, Query()] = None,
    skip: Annotated[Count, Query()] = 0,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    status: JobStatusName | None = None,
    operation_id: str | None = None,
    user_id: str | None = None,
) -> JobFilter:
    return JobFilter(time_from, time_to, status, operation_id, user_id, order, limit, skip)


@hot.route(
    "GET",
    "/jobs/{job_id}",
    summary="Get job by ID",
    response_model=None,
    responses={200: {"model": JobModel}, **error_responses(401, 404, 429)},
)
async def get_job(request: Request) -> Response:
    """GET /jobs/:id, the hot path: credentials from the cache, access from the in-memory
    directory, one indexed read, orjson bytes out.

    Read-your-writes without a second query: the read returns the directory revision with
    the row, from the same snapshot. When it is newer than this process's directory (a user,
    right or object changed through another process), the directory catches up and the
    caller is identified again before anything is decided.
    """
    ctx = context(request)
    store, auth = ctx.store, ctx.auth
    job_id = request.path_params["job_id"]
    known = store.directory.revision  # the caller is identified on this or a newer one
    try:
        principal = await auth.identify(request)
    except Unauthorized:
        # Maybe a user (or token, or session) made elsewhere a moment ago.
        if not await store.catch_up():
            raise
        principal = await auth.identify(request)
    revision, row = await store.job_row_at(job_id) if is_object_id(job_id) else (None, None)
    if revision is None or revision > known:
        # Something changed since: identify again on a directory at least as new as the row
        # (None, for an ID that names nothing: as new as the database now).
        await store.catch_up(revision)
        principal = await auth.identify(request)
    row = visible_job(store, principal, job_id, row)
    return Response(orjson.dumps(job_document(row)), media_type=JSON)


@router.post(
    "/jobs",
    summary="Jobs of objects or links",
    response_model=None,
    responses={200: {"model": list[HistoryJobModel]}, **_LIST_ERRORS},
)
async def list_jobs(query: JobsQuery, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    if (query.objects is None) == (query.links is None):
        raise BadRequest("objects or links: give exactly one of them")
    owner_type = EntityKind.OBJECT if query.objects is not None else EntityKind.LINK
    requested = query.objects if query.objects is not None else query.links
    owners = visible_owners(ctx.store, principal, requested, owner_type)
    flt = JobFilter(
        query.from_,
        query.to,
        query.status,
        query.operation_id,
        query.user_id,
        query.order,
        query.limit,
        query.skip,
    )
    return await history_response(ctx, owners, owner_type, flt)


@router.get(
    "/objects/{object_id}/jobs",
    summary="Job history of an object",
    response_model=None,
    responses={200: {"model": list[HistoryJobModel]}, **_LIST_ERRORS},
)
async def object_jobs(
    object_id: str,
    request: Request,
    flt: Annotated[JobFilter, Depends(list_filter)],
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_history(ctx.store, principal, object_id, EntityKind.OBJECT)
    return await history_response(ctx, [object_id], EntityKind.OBJECT, flt)


@router.get(
    "/links/{link_id}/jobs",
    summary="Job history of a link",
    response_model=None,
    responses={200: {"model": list[HistoryJobModel]}, **_LIST_ERRORS},
)
async def link_jobs(
    link_id: str,
    request: Request,
    flt: Annotated[JobFilter, Depends(list_filter)],
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_history(ctx.store, principal, link_id, EntityKind.LINK)
    return await history_response(ctx, [link_id], EntityKind.LINK, flt)


@router.patch(
    "/jobs/{job_id}/results",
    summary="Append a custom result to a job",
    response_model=None,
    responses={
        200: {"description": "Appended; empty body"},
        **error_responses(400, 401, 403, 404, 413, 429),
    },
)
async def add_result(
    job_id: str, request: Request, payload: Annotated[dict[str, Any], Body()]
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    row = await read_visible_job(ctx.store, principal, job_id)
    if row.owner_type == EntityKind.OBJECT:
        require_any(principal, "modify-objects", "manage-objects")
    else:
        require_any(principal, "modify-links", "manage-links")
    entry = {"payload": payload, "by": principal.id, "timestamp": now_ms()}
    try:
        encoded = orjson.dumps(entry).decode()
    except orjson.JSONEncodeError as exc:  # e.g. an integer wider than 64 bits
        raise BadRequest(f"payload: cannot be stored as JSON ({exc})") from None
    if not await append_result(ctx.store, job_id, encoded):
        raise NotFound.entity("Job", job_id)
    return Response(b"", status_code=200)
