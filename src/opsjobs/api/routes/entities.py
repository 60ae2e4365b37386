"""Objects and links (docs/api.md §11): the subset that jobs need.

The two kinds of monitored entity share this module: their routes mirror each other and
share what sets them apart from other resources (the operations a new one may carry, what a
caller is shown of those, the ``fields`` projection of a list); split, each module would
import the other's helpers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, create_model
from starlette.responses import Response

from ...domain.operations import shown, validate_all
from ...domain.users import Principal
from ...store import entities
from ..bodies import CheckedRoute, refuse_nulls
from ..context import context
from ..guards import require_any, visible_entity, visible_entity_ids
from ..models import (
    LinkCreate,
    LinkModel,
    LinkUpdate,
    ObjectCreate,
    ObjectModel,
    ObjectUpdate,
    error_responses,
)
from ..responses import empty_response, json_response


def _own_operations(principal: Principal, sent: list) -> list[dict]:
    """The operations sent with a new object or link, checked; adding them needs
    manage-operations as well (docs/api.md §11)."""
    if sent:
        require_any(principal, "manage-operations")
    return validate_all([operation.model_dump() for operation in sent])


def _shown(principal: Principal, document: dict) -> dict:
    # Operation parameters (script text, paths, topics) are for operation managers; others
    # see each operation's id, name and description only (docs/api.md §9).
    document["operations"] = shown(principal.rights, document["operations"])
    return document


def _project(documents: list[dict], fields: str | None) -> list[dict]:
    if not fields:
        return documents
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    if "id" not in wanted:
        wanted.insert(0, "id")
    return [{k: d[k] for k in wanted if k in d} for d in documents]


def _projected(model: type[BaseModel]) -> type[BaseModel]:
    """What a list answers with ``fields=``: the model's fields, all but ``id`` optional."""
    optional = {
        name: (field.annotation, None) for name, field in model.model_fields.items() if name != "id"
    }
    return create_model(f"{model.__name__}Fields", id=(str, ...), **optional)


ObjectFields = _projected(ObjectModel)
LinkFields = _projected(LinkModel)


def _as_list(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


router = APIRouter(route_class=CheckedRoute)


# -- objects ---------------------------------------------------------------------------


@router.post(
    "/objects",
    tags=["objects"],
    response_model=None,
    responses={200: {"model": ObjectModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def create_object(body: ObjectCreate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    parents = _as_list(body.parent_id) or ["1"]
    for parent in parents:
        await visible_entity(ctx.store, principal, "object", parent)
    require_any(principal, "create-objects", "manage-objects")
    document = await entities.create_object(
        ctx.store,
        name=body.name,
        parent_ids=parents,
        class_id=body.class_id,
        properties=body.properties,
        operations=_own_operations(principal, body.operations),
    )
    return json_response(_shown(principal, document))


@router.get(
    "/objects",
    tags=["objects"],
    response_model=None,
    responses={
        200: {
            "model": list[ObjectFields],
            "description": "The objects the caller may see; with `fields`, each carries "
            "only `id` and the fields named",
        },
        **error_responses(400, 401),
    },
)
async def list_objects(
    request: Request,
    fields: Annotated[str | None, Query(description="comma-separated field names")] = None,
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    visible = visible_entity_ids(ctx.store, principal, "object")
    documents = await entities.object_documents(ctx.store, visible)
    return json_response(_project([_shown(principal, d) for d in documents], fields))


@router.get(
    "/objects/{object_id}",
    tags=["objects"],
    response_model=None,
    responses={200: {"model": ObjectModel}, **error_responses(401, 404)},
)
async def get_object(object_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "object", object_id)
    return json_response(_shown(principal, await entities.object_document(ctx.store, object_id)))


@router.patch(
    "/objects/{object_id}",
    tags=["objects"],
    response_model=None,
    responses={200: {"model": ObjectModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def update_object(object_id: str, body: ObjectUpdate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "object", object_id)
    require_any(principal, "modify-objects", "manage-objects")
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name", "parent_id", "state_id"))
    if "parent_id" in changes:
        changes["parent_id"] = _as_list(changes["parent_id"])
        for parent in changes["parent_id"]:
            await visible_entity(ctx.store, principal, "object", parent)
    document = await entities.update_object(ctx.store, object_id, changes)
    return json_response(_shown(principal, document))


@router.delete(
    "/objects/{object_id}",
    tags=["objects"],
    response_model=None,
    responses={
        200: {"description": "Deleted; empty body"},
        **error_responses(400, 401, 403, 404, 409),
    },
)
async def delete_object(object_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "object", object_id)
    require_any(principal, "delete-objects", "manage-objects")
    await entities.delete_object(ctx.store, object_id)
    return empty_response()


# -- links -----------------------------------------------------------------------------


@router.post(
    "/links",
    tags=["links"],
    response_model=None,
    responses={200: {"model": LinkModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def create_link(body: LinkCreate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "object", body.source)
    await visible_entity(ctx.store, principal, "object", body.target)
    require_any(principal, "create-links", "manage-links")
    document = await entities.create_link(
        ctx.store,
        source=body.source,
        target=body.target,
        name=body.name,
        class_id=body.class_id,
        properties=body.properties,
        operations=_own_operations(principal, body.operations),
    )
    return json_response(_shown(principal, document))


@router.get(
    "/links",
    tags=["links"],
    response_model=None,
    responses={
        200: {
            "model": list[LinkFields],
            "description": "The links the caller may see; with `fields`, each carries "
            "only `id` and the fields named",
        },
        **error_responses(400, 401),
    },
)
async def list_links(
    request: Request,
    fields: Annotated[str | None, Query(description="comma-separated field names")] = None,
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    visible = visible_entity_ids(ctx.store, principal, "link")
    documents = await entities.link_documents(ctx.store, visible)
    return json_response(_project([_shown(principal, d) for d in documents], fields))


@router.get(
    "/links/{link_id}",
    tags=["links"],
    response_model=None,
    responses={200: {"model": LinkModel}, **error_responses(401, 404)},
)
async def get_link(link_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "link", link_id)
    return json_response(_shown(principal, await entities.link_document(ctx.store, link_id)))


@router.patch(
    "/links/{link_id}",
    tags=["links"],
    response_model=None,
    responses={200: {"model": LinkModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def update_link(link_id: str, body: LinkUpdate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "link", link_id)
    require_any(principal, "modify-links", "manage-links")
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name", "state_id"))
    document = await entities.update_link(ctx.store, link_id, changes)
    return json_response(_shown(principal, document))


@router.delete(
    "/links/{link_id}",
    tags=["links"],
    response_model=None,
    responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
)
async def delete_link(link_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, "link", link_id)
    require_any(principal, "delete-links", "manage-links")
    await entities.delete_link(ctx.store, link_id)
    return empty_response()
