"""SAYMON route families opsjobs does not serve, answered as such (docs/api.md §17).

Each answers ``501 NotImplemented`` naming the family, for every method, before credentials
are checked: the answer is the same for every caller and path and says nothing about any
entity. They stay out of the OpenAPI document, which lists what opsjobs does.
"""

from __future__ import annotations

from fastapi import APIRouter

from ...domain.errors import NotServed
from ..bodies import CheckedRoute

router = APIRouter(route_class=CheckedRoute, include_in_schema=False)

_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@router.api_route("/objects/{object_id}/history", methods=_ANY)
@router.api_route("/links/{link_id}/history", methods=_ANY)
async def metric_history() -> None:
    raise NotServed("metric history", "agent metrics belong to SAYMON's monitoring side")


@router.api_route("/objects/{object_id}/stat", methods=_ANY)
@router.api_route("/objects/{object_id}/stat/{rest:path}", methods=_ANY)
@router.api_route("/objects/{object_id}/stat-rules", methods=_ANY)
@router.api_route("/links/{link_id}/stat", methods=_ANY)
@router.api_route("/links/{link_id}/stat/{rest:path}", methods=_ANY)
@router.api_route("/links/{link_id}/stat-rules", methods=_ANY)
@router.api_route("/stat-history", methods=_ANY)
async def stat() -> None:
    raise NotServed("stat", "agent data belongs to SAYMON's monitoring side")


@router.api_route("/incidents", methods=_ANY)
@router.api_route("/incidents/{rest:path}", methods=_ANY)
async def incidents() -> None:
    raise NotServed("incidents", "alarms belong to SAYMON's monitoring side")


@router.api_route("/flows", methods=_ANY)
@router.api_route("/flows/{rest:path}", methods=_ANY)
async def flows() -> None:
    raise NotServed("flows", "diagrams of SAYMON's user interface")


@router.api_route("/objects/{object_id}/audit-log", methods=_ANY)
@router.api_route("/links/{link_id}/audit-log", methods=_ANY)
@router.api_route("/users/{user_id}/audit-log", methods=_ANY)
async def audit_log() -> None:
    raise NotServed(
        "audit log", "SAYMON's per-entity history; opsjobs has its own at /node/api/audit"
    )


@router.api_route("/dictionaries", methods=_ANY)
@router.api_route("/dictionaries/{rest:path}", methods=_ANY)
@router.api_route("/dictionaries-monitoring", methods=_ANY)
@router.api_route("/dictionaries-monitoring/{rest:path}", methods=_ANY)
async def dictionaries() -> None:
    raise NotServed("dictionaries", "value names for SAYMON's widgets and monitoring")


@router.api_route("/notification-templates", methods=_ANY)
@router.api_route("/notification-templates/{rest:path}", methods=_ANY)
async def notification_templates() -> None:
    raise NotServed("notification templates", "opsjobs sends no notifications")
