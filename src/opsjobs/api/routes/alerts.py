"""Alerts that set states (docs/api.md, "Alerts that set states"): Prometheus Alertmanager's
webhook, ``POST /node/api/alerts/alertmanager``, an opsjobs extension. Each alert sets the
state of the object or link its label names, as PATCH of its ``state_id`` would, so the
state's triggers fire; the work is service/alerts.py's.

Order of refusals: a body that is not JSON (400, before credentials as on every FastAPI
route), credentials (401), the permission (403), a payload that is not Alertmanager's (400,
nothing changed). Per alert, in the answer: malformed, an entity unknown or out of sight,
one the caller may not change.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from ...domain.alerts import AlertLabels, AlertStates, read_payload
from ...domain.users import Principal
from ...service.alerts import CHANGERS, apply_alerts
from ..bodies import CheckedRoute
from ..context import context
from ..guards import require_any
from ..models import AlertResultModel, error_responses
from ..responses import json_response

router = APIRouter(route_class=CheckedRoute, tags=["alerts"])

# Whoever may change the state of objects or of links (each alert is judged by its kind).
_CHANGERS = tuple(p for permissions in CHANGERS.values() for p in permissions)


async def _caller(request: Request) -> Principal:
    """Any credential of the API, and also ``Authorization: Bearer <API token>``, which is
    how Alertmanager's ``http_config.authorization`` sends one: the token stays out of URLs."""
    ctx = context(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return await ctx.auth.check_token(header[7:].strip(), request)
    return await ctx.auth.authenticate(request)


@functools.lru_cache(maxsize=4)
def _states(text: str) -> AlertStates:
    return AlertStates.from_text(text)


@router.post(
    "/alerts/alertmanager",
    summary="ext: Alertmanager's webhook: each alert sets its entity's state",
    response_model=None,
    responses={
        200: {"model": list[AlertResultModel]},
        **error_responses(400, 401, 403, 413),
    },
)
async def alertmanager(request: Request, payload: Annotated[dict[str, Any], Body()]) -> Response:
    ctx = context(request)
    principal = await _caller(request)
    require_any(principal, *_CHANGERS)
    settings = ctx.settings
    labels = AlertLabels(settings.alert_id_label, settings.alert_discovery_label)
    alerts = read_payload(payload, labels)
    results = await apply_alerts(ctx.store, principal, _states(settings.alert_states), alerts)
    return json_response(results)
