"""States and state history of objects and links (docs/api.md §18): ``PUT …/state``,
``GET …/state-history`` and ``GET /state-history``.

A change of state goes through store/states.py whichever route makes it (this one or a
``PATCH`` of ``state_id``): recorded in the history, with the firings it starts, in the
transaction that writes it. The per-kind routes are declared once per kind (``kinds.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from ...domain.kinds import EntityKind
from ...store import entities, states
from ...store.core import Store
from ..bodies import CheckedRoute
from ..context import context
from ..guards import (
    owners_in_sight,
    require_any,
    sees_records_of,
    visible_records_owner,
    visible_ref,
)
from ..kinds import for_kind
from ..models import (
    LinkModel,
    Millis,
    ObjectModel,
    StateBody,
    StateHistoryModel,
    error_responses,
)
from ..responses import json_response
from .entities import shown_entity

_PLURAL = {"object": "objects", "link": "links"}
_MODIFY = {"object": ("modify-objects", "manage-objects"), "link": ("modify-links", "manage-links")}
_DOCUMENT = {"object": ObjectModel, "link": LinkModel}

# Bounds of a page of history (docs/api.md §18): what one answer may hold, and how far into
# the list it may start, since rows the caller may not see are read and passed over.
LIMIT_DEFAULT = 10
LIMIT_MAX = 1000
SKIP_MAX = 100_000
# Rows read at a time while a page is gathered: memory stays bounded by this and the limit.
HISTORY_BATCH = 500
# A caller who sees at most this many entities has the database read only theirs, so that
# rows out of sight are not even read (a bound on the query's parameters).
OWNER_LIST_MAX = 1000

router = APIRouter(route_class=CheckedRoute)


@dataclass(frozen=True, slots=True)
class Page:
    start: int | None
    end: int | None
    limit: int
    skip: int


def history_page(
    start: Annotated[Millis | None, Query(alias="from", description="ms, inclusive")] = None,
    end: Annotated[Millis | None, Query(alias="to", description="ms, inclusive")] = None,
    limit: Annotated[int, Query(ge=0, le=LIMIT_MAX)] = LIMIT_DEFAULT,
    skip: Annotated[int, Query(ge=0, le=SKIP_MAX)] = 0,
) -> Page:
    return Page(start, end, limit, skip)


def history_entry(change: dict[str, Any]) -> dict[str, Any]:
    """A state_history row as SAYMON's State History model names its fields."""
    return {
        "id": change["id"],
        "entityId": change["owner_id"],
        "entityType": change["owner_type"],
        "stateId": change["state_id"],
        "prevStateId": change["prev_state_id"],
        "timestamp": change["timestamp"],
        "reason": {"by": change["user_id"], "job": change["job_id"]},
    }


async def gather_history_page(
    store: Store,
    page: Page,
    keep: Callable[[dict[str, Any]], bool],
    owner_ids: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One page of history rows that ``keep`` lets through, newest first: the rows it drops
    are not counted by ``skip`` or ``limit``. Read in batches from the newest back, so that
    memory holds one batch and the page, however long the history."""
    found: list[dict[str, Any]] = []
    to_skip, after = page.skip, None
    while len(found) < page.limit:
        rows = await states.history(
            store,
            owner_ids=owner_ids,
            start=page.start,
            end=page.end,
            after=after,
            batch=HISTORY_BATCH,
        )
        for change in (r for r in rows if keep(r)):
            if to_skip:
                to_skip -= 1
            elif len(found) < page.limit:
                found.append(history_entry(change))
        if len(rows) < HISTORY_BATCH:
            break
        after = (rows[-1]["timestamp"], rows[-1]["id"])
    return found


@router.get(
    "/state-history",
    tags=["state history"],
    summary="State changes of every object and link the caller may see, newest first",
    response_model=None,
    responses={200: {"model": list[StateHistoryModel]}, **error_responses(400, 401)},
)
async def all_state_history(
    request: Request, page: Annotated[Page, Depends(history_page)]
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    sees = sees_records_of(ctx.store, principal)

    def keep(change: dict[str, Any]) -> bool:
        return sees(change["owner_id"], change["owner_type"])

    owner_ids = owners_in_sight(ctx.store, principal, OWNER_LIST_MAX)
    return json_response(await gather_history_page(ctx.store, page, keep, owner_ids))


async def set_state(kind: str, owner_id: str, body: StateBody, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    entity_id = await visible_ref(ctx.store, principal, kind, owner_id)
    require_any(principal, *_MODIFY[kind])
    document = await entities.set_entity_state(
        ctx.store, EntityKind.of_word(kind), entity_id, body.state_id, user_id=principal.id
    )
    return json_response(shown_entity(ctx.store, principal, document))


async def state_history(
    kind: str, owner_id: str, request: Request, page: Annotated[Page, Depends(history_page)]
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    entity_id = await visible_records_owner(
        ctx.store, principal, kind, owner_id, states.has_history
    )
    owner_type = EntityKind.of_word(kind)

    def keep(change: dict[str, Any]) -> bool:
        return change["owner_type"] == owner_type

    return json_response(await gather_history_page(ctx.store, page, keep, [entity_id]))


def _declare(kind: str) -> None:
    base = f"/{_PLURAL[kind]}/{{{kind}_id}}"
    tags = [_PLURAL[kind]]
    router.add_api_route(
        base + "/state",
        for_kind(set_state, kind),
        methods=["PUT"],
        tags=tags,
        name=f"set_{kind}_state",
        summary=f"Set the {kind}'s state; answers the {kind}",
        response_model=None,
        responses={200: {"model": _DOCUMENT[kind]}, **error_responses(400, 401, 403, 404, 413)},
    )
    router.add_api_route(
        base + "/state-history",
        for_kind(state_history, kind),
        methods=["GET"],
        tags=tags,
        name=f"{kind}_state_history",
        summary=f"State changes of the {kind}, newest first",
        response_model=None,
        responses={200: {"model": list[StateHistoryModel]}, **error_responses(400, 401, 404)},
    )


for _kind in _PLURAL:
    _declare(_kind)
