"""Schedules (docs/api.md, "Schedules"): operations run at the times of a cron expression or
an interval, as the user who made them.

Who may do what: anyone may make a schedule of an entity it can see with
``execute-operations`` (as executing would); the owner reads and changes its own; a caller
with ``manage-operations`` also reads and changes others' whose target it can see. Any other
schedule is answered 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from ...domain.errors import NotFound
from ...domain.ids import is_object_id
from ...domain.kinds import EntityKind
from ...domain.users import Principal
from ...service import schedules as service
from ...store import schedules as stored
from ..bodies import CheckedRoute
from ..context import Context, context
from ..guards import holds_any, may_read_schedule, require_any, visible_entity
from ..models import ScheduleModel, error_responses
from ..responses import empty_response, json_response

router = APIRouter(route_class=CheckedRoute, tags=["schedules"])

ScheduleBody = Annotated[
    dict[str, Any],
    Body(description="name, operation, target, args, cron + timezone or interval, missed, paused"),
]


async def _caller(request: Request) -> tuple[Context, Principal]:
    ctx = context(request)
    return ctx, await ctx.auth.authenticate(request)


def _may_read(ctx: Context, principal: Principal, row: Any) -> bool:
    kind = EntityKind(row.target_type).word
    return may_read_schedule(ctx.store, principal, row.owner_id, kind, row.target_id)


async def _readable(ctx: Context, principal: Principal, schedule_id: str) -> Any:
    row = await stored.get(ctx.store, schedule_id) if is_object_id(schedule_id) else None
    if row is None or not _may_read(ctx, principal, row):
        raise NotFound.entity("Schedule", schedule_id)
    return row


async def _changeable(ctx: Context, principal: Principal, schedule_id: str) -> Any:
    row = await _readable(ctx, principal, schedule_id)
    require_any(principal, service.PERMISSION, service.MANAGER)
    return row


async def _new_target_visible(ctx: Context, principal: Principal, body: dict[str, Any]) -> None:
    """404 if the body names a target the caller may not see (its shape is checked later)."""
    target = body.get("target")
    if isinstance(target, dict) and len(target) == 1:
        ((kind, entity_id),) = target.items()
        if kind in ("object", "link") and isinstance(entity_id, str):
            await visible_entity(ctx.store, principal, kind, entity_id)


@router.get(
    "/schedules",
    response_model=None,
    responses={200: {"model": list[ScheduleModel]}, **error_responses(401)},
)
async def list_schedules(request: Request) -> Response:
    ctx, principal = await _caller(request)
    manager = holds_any(principal, service.MANAGER)
    rows = await stored.listed(ctx.store, None if manager else principal.id, service.LIST_MAX)
    return json_response([service.document(r) for r in rows if _may_read(ctx, principal, r)])


@router.post(
    "/schedules",
    response_model=None,
    responses={
        200: {"model": ScheduleModel, "description": "The new schedule"},
        **error_responses(400, 401, 403, 404, 413),
    },
)
async def create_schedule(body: ScheduleBody, request: Request) -> Response:
    ctx, principal = await _caller(request)
    await _new_target_visible(ctx, principal, body)
    require_any(principal, service.PERMISSION)
    return json_response(await service.create_schedule(ctx.store, principal.id, body))


@router.get(
    "/schedules/{schedule_id}",
    response_model=None,
    responses={
        200: {"model": ScheduleModel, "description": "The schedule"},
        **error_responses(401, 404),
    },
)
async def get_schedule(schedule_id: str, request: Request) -> Response:
    ctx, principal = await _caller(request)
    return json_response(service.document(await _readable(ctx, principal, schedule_id)))


@router.patch(
    "/schedules/{schedule_id}",
    response_model=None,
    responses={
        200: {"model": ScheduleModel, "description": "The schedule as changed"},
        **error_responses(400, 401, 403, 404, 413),
    },
)
async def change_schedule(schedule_id: str, body: ScheduleBody, request: Request) -> Response:
    ctx, principal = await _caller(request)
    row = await _changeable(ctx, principal, schedule_id)
    await _new_target_visible(ctx, principal, body)
    return json_response(await service.change_schedule(ctx.store, row, body))


@router.delete(
    "/schedules/{schedule_id}",
    response_model=None,
    responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
)
async def delete_schedule(schedule_id: str, request: Request) -> Response:
    ctx, principal = await _caller(request)
    row = await _changeable(ctx, principal, schedule_id)
    await stored.remove(ctx.store, row.id)
    return empty_response()


async def _pause(schedule_id: str, request: Request, paused: bool) -> Response:
    ctx, principal = await _caller(request)
    row = await _changeable(ctx, principal, schedule_id)
    return json_response(await service.set_paused(ctx.store, row, paused))


@router.post(
    "/schedules/{schedule_id}/pause",
    response_model=None,
    responses={
        200: {"model": ScheduleModel, "description": "The schedule, paused"},
        **error_responses(401, 403, 404),
    },
)
async def pause_schedule(schedule_id: str, request: Request) -> Response:
    return await _pause(schedule_id, request, True)


@router.post(
    "/schedules/{schedule_id}/resume",
    response_model=None,
    responses={
        200: {"model": ScheduleModel, "description": "The schedule, running again from now"},
        **error_responses(400, 401, 403, 404),
    },
)
async def resume_schedule(schedule_id: str, request: Request) -> Response:
    return await _pause(schedule_id, request, False)
