"""The audit log (docs/api.md §19): read by user managers, newest first. Rows are written by
the middleware of audited.py and by auth.py, never through a route."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ...store.audit import AuditQuery, read_audit
from ..bodies import CheckedRoute
from ..context import context
from ..guards import require_any
from ..models import AUDIT_PAGE_MAX, AuditRowModel, Count, Millis, error_responses
from ..responses import json_response

router = APIRouter(route_class=CheckedRoute, tags=["audit"])

Text = Annotated[str | None, Query(min_length=1, max_length=255)]


@router.get(
    "/audit",
    summary="The audit log, newest first (ext)",
    response_model=None,
    responses={200: {"model": list[AuditRowModel]}, **error_responses(400, 401, 403)},
)
async def read_audit_log(
    request: Request,
    time_from: Annotated[Millis | None, Query(alias="from", description="at or after, ms")] = None,
    time_to: Annotated[Millis | None, Query(alias="to", description="at or before, ms")] = None,
    kind: Annotated[Text, Query(description="a kind, or a prefix ending in '.' (auth.)")] = None,
    actor: Annotated[Text, Query(description="the actor's user ID or login")] = None,
    limit: Annotated[int, Query(ge=1, le=AUDIT_PAGE_MAX)] = 100,
    skip: Annotated[Count, Query()] = 0,
) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), "manage-users")
    await ctx.audit.flush()  # this process's own acts, up to now, are in what is read
    query = AuditQuery(time_from, time_to, kind, actor, limit, skip)
    return json_response(await read_audit(ctx.store, query))
