"""Batches (docs/api.md, "Batches"): one operation run over a set of targets, at most
``concurrency`` jobs at a time, as the user who made it.

Who may do what: making a batch needs ``run-bulks`` and ``execute-operations`` (403 naming
the one missing); the owner reads and cancels its own; a caller with ``manage-operations``
also reads and cancels another's when it may see every one of its targets. Any other batch
is answered 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from ...domain.errors import NotFound
from ...domain.ids import is_object_id
from ...domain.users import Principal
from ...service import batches as service
from ...store import batches as stored
from ..bodies import CheckedRoute
from ..context import Context, context
from ..guards import holds_any, may_read_batch, require_any, require_missing, visible_entity
from ..models import BatchModel, error_responses
from ..responses import json_response

router = APIRouter(route_class=CheckedRoute, tags=["batches"])

BatchBody = Annotated[
    dict[str, Any],
    Body(description="operation, target, args, concurrency, stopAfterFailures, name"),
]
PageLimit = Annotated[int, Query(ge=1, le=service.PAGE_MAX)]
PageSkip = Annotated[int, Query(ge=0, le=service.TARGETS_PAGE_SKIP_MAX)]


async def _caller(request: Request) -> tuple[Context, Principal]:
    ctx = context(request)
    return ctx, await ctx.auth.authenticate(request)


async def _readable(ctx: Context, principal: Principal, batch_id: str) -> Any:
    row = await stored.get(ctx.store, batch_id) if is_object_id(batch_id) else None
    if row is None or not await may_read_batch(ctx.store, principal, row.owner_id, row.id):
        raise NotFound.entity("Batch", batch_id)
    return row


async def _subtree_visible(ctx: Context, principal: Principal, body: Any) -> None:
    """404 if the body names a subtree whose top the caller may not see (its shape is
    checked later), before any refusal for permissions."""
    target = body.get("target") if isinstance(body, dict) else None
    if isinstance(target, dict) and isinstance(target.get("subtree"), str):
        await visible_entity(ctx.store, principal, "object", target["subtree"])


@router.get(
    "/batches",
    response_model=None,
    responses={200: {"model": list[BatchModel]}, **error_responses(401)},
)
async def list_batches(request: Request, limit: PageLimit = 100) -> Response:
    ctx, principal = await _caller(request)
    manager = holds_any(principal, service.MANAGER)
    rows = await stored.listed(ctx.store, None if manager else principal.id, limit)
    shown = [r for r in rows if await may_read_batch(ctx.store, principal, r.owner_id, r.id)]
    return json_response([await service.listed_document(ctx.store, r) for r in shown])


@router.post(
    "/batches",
    response_model=None,
    status_code=202,
    responses={
        202: {"model": BatchModel, "description": "The new batch; its jobs are queued next"},
        **error_responses(400, 401, 403, 404, 413),
    },
)
async def create_batch(body: BatchBody, request: Request) -> Response:
    ctx, principal = await _caller(request)
    await _subtree_visible(ctx, principal, body)
    require_missing(principal, *service.PERMISSIONS)
    await ctx.store.catch_up()  # the tree and the rights as they are now
    made = await service.create_batch(ctx.store, principal, body)
    return json_response(made, status_code=202)


@router.get(
    "/batches/{batch_id}",
    response_model=None,
    responses={
        200: {"model": BatchModel, "description": "The batch, with a page of its jobs"},
        **error_responses(401, 404),
    },
)
async def get_batch(
    batch_id: str, request: Request, limit: PageLimit = service.PAGE_MAX, skip: PageSkip = 0
) -> Response:
    ctx, principal = await _caller(request)
    row = await _readable(ctx, principal, batch_id)
    return json_response(await service.document(ctx.store, row, limit, skip))


@router.post(
    "/batches/{batch_id}/cancel",
    response_model=None,
    responses={
        200: {"model": BatchModel, "description": "The batch, cancelled (or as it ended)"},
        **error_responses(401, 403, 404),
    },
)
async def cancel_batch(batch_id: str, request: Request) -> Response:
    ctx, principal = await _caller(request)
    row = await _readable(ctx, principal, batch_id)
    if row.owner_id != principal.id:
        require_any(principal, service.MANAGER)
    return json_response(await service.cancel_batch(ctx.store, row.id))
