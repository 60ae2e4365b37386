"""Classes (docs/api.md §12): templates of objects and links, with their own operations
and state triggers (§18).

Classes are visible to every caller (they are catalogue, not monitored things), so for them
only existence comes before permissions. Their operations are served by operations.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.operations import shown, validate_all
from ...store import classes
from ..bodies import CheckedRoute, refuse_nulls
from ..context import context
from ..guards import require_all, require_trigger_rights, visible_entity
from ..models import ClassCreate, ClassModel, ClassUpdate, error_responses
from ..responses import empty_response, json_response
from .triggers import checked_triggers

router = APIRouter(route_class=CheckedRoute, tags=["classes"])


@router.get(
    "/classes",
    response_model=None,
    responses={200: {"model": list[ClassModel]}, **error_responses(401)},
)
async def list_classes(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    found = await classes.class_documents(ctx.store)
    for document in found:
        document["operations"] = shown(principal.rights, document["operations"])
    return json_response(found)


@router.post(
    "/classes",
    response_model=None,
    responses={200: {"model": ClassModel}, **error_responses(400, 401, 403, 409, 413)},
)
async def create_class(body: ClassCreate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    if body.operations:
        require_all(principal, "manage-classes", "manage-operations")
    else:
        require_all(principal, "manage-classes")
    require_trigger_rights(principal, body.triggers)
    documents = validate_all([operation.model_dump() for operation in body.operations])
    found = [] if body.triggers is None else checked_triggers(principal, body.triggers)
    created = await classes.create_class(
        ctx.store, name=body.name, class_id=body.id, operations=documents, triggers=found
    )
    return json_response(created)


@router.get(
    "/classes/{class_id}",
    response_model=None,
    responses={200: {"model": ClassModel}, **error_responses(401, 404)},
)
async def get_class(class_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    document = await classes.class_document(ctx.store, class_id)
    document["operations"] = shown(principal.rights, document["operations"])
    return json_response(document)


@router.patch(
    "/classes/{class_id}",
    response_model=None,
    responses={200: {"model": ClassModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def update_class(class_id: str, body: ClassUpdate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "class", class_id)
    require_all(principal, "manage-classes")
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name", "triggers"))
    require_trigger_rights(principal, changes.get("triggers"))
    found = None if "triggers" not in changes else checked_triggers(principal, changes["triggers"])
    await classes.update_class(ctx.store, class_id, name=changes.get("name"), triggers=found)
    document = await classes.class_document(ctx.store, class_id)
    document["operations"] = shown(principal.rights, document["operations"])
    return json_response(document)


@router.delete(
    "/classes/{class_id}",
    response_model=None,
    responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
)
async def delete_class(class_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "class", class_id)
    require_all(principal, "manage-classes")
    await classes.delete_class(ctx.store, class_id)
    return empty_response()
