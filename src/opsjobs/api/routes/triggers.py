"""State triggers of objects and links (docs/api.md §18): ``GET``/``PUT …/state-triggers``
(SAYMON), and ``GET …/trigger-deliveries``, what they did (opsjobs addition).

Rights, in the order of docs/api.md §2: an entity the caller may not see is a 404 whatever
the permissions; then modify- or manage- of its kind, for reading the triggers too (SAYMON);
then, for a ``script`` trigger, ``manage-operations`` as well: it defines a program that runs
on a runner's host, as an operation does (docs/security.md, "State triggers").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from ...domain.errors import NotFound
from ...domain.kinds import EntityKind
from ...domain.triggers import runs_programs, validate_triggers
from ...domain.users import Principal
from ...store import deliveries, triggers
from ..bodies import CheckedRoute
from ..context import context
from ..guards import (
    require_all,
    require_any,
    require_trigger_rights,
    visible_records_owner,
    visible_ref,
)
from ..kinds import for_kind
from ..models import DeliveryModel, TriggerModel, TriggersIn, error_responses
from ..responses import empty_response, json_response
from .states import LIMIT_DEFAULT, LIMIT_MAX, SKIP_MAX

_PLURAL = {"object": "objects", "link": "links"}
_MODIFY = {"object": ("modify-objects", "manage-objects"), "link": ("modify-links", "manage-links")}

router = APIRouter(route_class=CheckedRoute)


def checked_triggers(principal: Principal, sent: Any, where: str = "triggers") -> list[dict]:
    """The triggers sent, checked and normalised (400 naming the field), if the caller may
    save them (403)."""
    require_trigger_rights(principal, sent)
    found = validate_triggers(sent, where)
    if runs_programs(found):  # what was checked as sent, checked again as it will be kept
        require_all(principal, "manage-operations")
    return found


async def get_state_triggers(kind: str, owner_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    entity_id = await visible_ref(ctx.store, principal, kind, owner_id)
    require_any(principal, *_MODIFY[kind])
    kept = await triggers.own_triggers(ctx.store, EntityKind.of_word(kind), entity_id)
    if kept is None:
        # SAYMON's answer for an entity whose triggers were never set.
        label = EntityKind.of_word(kind).label
        raise NotFound.entity("StateTriggers", f"{entity_id}, {label}({entity_id})")
    return json_response(kept)


async def put_state_triggers(
    kind: str, owner_id: str, request: Request, body: Annotated[TriggersIn, Body()]
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    entity_id = await visible_ref(ctx.store, principal, kind, owner_id)
    require_any(principal, *_MODIFY[kind])
    found = checked_triggers(principal, body)
    await triggers.put_triggers(ctx.store, EntityKind.of_word(kind), entity_id, found)
    return empty_response()


async def trigger_deliveries(
    kind: str,
    owner_id: str,
    request: Request,
    limit: Annotated[int, Query(ge=0, le=LIMIT_MAX)] = LIMIT_DEFAULT,
    skip: Annotated[int, Query(ge=0, le=SKIP_MAX)] = 0,
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    entity_id = await visible_records_owner(
        ctx.store, principal, kind, owner_id, deliveries.has_deliveries
    )
    return json_response(await deliveries.deliveries_of(ctx.store, entity_id, limit, skip))


def _declare(kind: str) -> None:
    base = f"/{_PLURAL[kind]}/{{{kind}_id}}"
    tags = [_PLURAL[kind]]
    router.add_api_route(
        base + "/state-triggers",
        for_kind(get_state_triggers, kind),
        methods=["GET"],
        tags=tags,
        name=f"get_{kind}_state_triggers",
        summary=f"The {kind}'s own state triggers (404 when never set)",
        response_model=None,
        responses={200: {"model": list[TriggerModel]}, **error_responses(401, 403, 404)},
    )
    router.add_api_route(
        base + "/state-triggers",
        for_kind(put_state_triggers, kind),
        methods=["PUT"],
        tags=tags,
        name=f"put_{kind}_state_triggers",
        summary=f"Replace the {kind}'s own state triggers; empty answer",
        response_model=None,
        responses={
            200: {"description": "Saved; empty body"},
            **error_responses(400, 401, 403, 404, 413),
        },
    )
    router.add_api_route(
        base + "/trigger-deliveries",
        for_kind(trigger_deliveries, kind),
        methods=["GET"],
        tags=tags,
        name=f"{kind}_trigger_deliveries",
        summary=f"What the {kind}'s triggers did, newest first",
        response_model=None,
        responses={200: {"model": list[DeliveryModel]}, **error_responses(400, 401, 404)},
    )


for _kind in _PLURAL:
    _declare(_kind)
