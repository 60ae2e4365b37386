"""Objects and links (docs/api.md §11), with SAYMON's fields.

The two kinds of monitored entity share this module: their routes mirror each other and
share what sets them apart from other resources (the operations a new one may carry, what a
caller is shown of those and of the entities around them, the ``fields`` projection of a
list); split, each module would import the other's helpers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, create_model
from starlette.responses import Response

from ...domain.entity_fields import LINK_LIST_DEFAULT, OBJECT_LIST_DEFAULT, class_id
from ...domain.errors import BadRequest
from ...domain.operations import shown, validate_all
from ...domain.users import Principal
from ...store import entities
from ...store.core import Store
from ..bodies import CheckedRoute, refuse_nulls
from ..context import context
from ..guards import (
    require_any,
    service_properties_check,
    visible_among,
    visible_entity,
    visible_entity_ids,
    visible_object_ref,
)
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


def _shown(store: Store, principal: Principal, document: dict) -> dict:
    # Operation parameters (script text, paths, topics) are for operation managers; others
    # see each operation's id, name and description only (docs/api.md §9).
    document["operations"] = shown(principal.rights, document["operations"])
    # What lies below an object, and the names at a link's ends, as far as the caller may
    # see them: an entity out of sight is not named (docs/api.md §11).
    if "child_ids" in document:
        document["child_ids"] = visible_among(store, principal, "object", document["child_ids"])
        document["child_link_ids"] = visible_among(
            store, principal, "link", document["child_link_ids"]
        )
    else:
        for end in ("source", "target"):
            if not visible_among(store, principal, "object", [document[end]]):
                document[f"{end}_name"] = None
    return document


def shown_entity(store: Store, principal: Principal, document: dict) -> dict:
    """The object or link document as ``GET`` of it answers the caller (after a change made
    through another route, such as ``PUT …/state``)."""
    return _shown(store, principal, document)


def _project(documents: list[dict], fields: str | None, default: tuple[str, ...]) -> list[dict]:
    """Each document with ``id`` and the fields named (SAYMON's default set without any)."""
    wanted = [f.strip() for f in (fields or "").split(",") if f.strip()] or list(default)
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


# Fields that may be left out or cleared, but not set to null (their columns hold a value).
_NOT_NULL = (
    "name",
    "parent_id",
    "state_id",
    "properties",
    "weight",
    "tags",
    "object_groups",
    "geoposition",
)
_OBJECT_CORE = {"name", "parent_id", "class_id", "properties", "operations"}
_LINK_CORE = {"source", "target", "name", "class_id", "properties", "operations"}


def _fields(principal: Principal, body: BaseModel, core: set[str]) -> dict:
    """The further SAYMON fields of a create body; the owner is the creator unless named."""
    fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k not in core}
    refuse_nulls(fields, _NOT_NULL)
    fields.setdefault("owner_id", principal.id)
    return fields


async def _change_object(store: Store, principal: Principal, object_id: str, changes: dict):
    """PATCH of an object (also the update half of a create by discovery_id)."""
    refuse_nulls(changes, _NOT_NULL)
    if "class_id" in changes:
        changes["class_id"] = class_id(changes["class_id"])
    if "parent_id" in changes:
        changes["parent_id"] = _as_list(changes["parent_id"])
        for parent in changes["parent_id"]:
            await visible_entity(store, principal, "object", parent)
    document = await entities.update_object(
        store,
        object_id,
        changes,
        user_id=principal.id,
        on_service=service_properties_check(principal),
    )
    return _shown(store, principal, document)


async def _upsert_object(store: Store, principal: Principal, body: ObjectCreate) -> dict | None:
    """Create by ``discovery_id`` updates the object that has it, if one does (SAYMON,
    models/object); None when none does."""
    if body.discovery_id is None:
        return None
    if await entities.object_id_by_discovery(store, body.discovery_id) is None:
        return None
    object_id = await visible_object_ref(store, principal, f"discovery id:{body.discovery_id}")
    require_any(principal, "modify-objects", "manage-objects")
    changes = body.model_dump(exclude_unset=True)
    if changes.pop("operations", None):
        raise BadRequest(
            "operations: an existing object's operations change through its /operations"
        )
    return await _change_object(store, principal, object_id, changes)


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
    upserted = await _upsert_object(ctx.store, principal, body)
    if upserted is not None:
        return json_response(upserted)
    parents = _as_list(body.parent_id) or ["1"]
    for parent in parents:
        await visible_entity(ctx.store, principal, "object", parent)
    require_any(principal, "create-objects", "manage-objects")
    document = await entities.create_object(
        ctx.store,
        name=body.name,
        parent_ids=parents,
        class_id=class_id(body.class_id),
        properties=body.properties,
        operations=_own_operations(principal, body.operations),
        fields=_fields(principal, body, _OBJECT_CORE),
        on_service=service_properties_check(principal),
    )
    return json_response(_shown(ctx.store, principal, document))


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
    shown_documents = [_shown(ctx.store, principal, d) for d in documents]
    return json_response(_project(shown_documents, fields, OBJECT_LIST_DEFAULT))


@router.get(
    "/objects/{object_id}",
    tags=["objects"],
    response_model=None,
    responses={200: {"model": ObjectModel}, **error_responses(401, 404)},
)
async def get_object(object_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    object_id = await visible_object_ref(ctx.store, principal, object_id)
    document = await entities.object_document(ctx.store, object_id)
    return json_response(_shown(ctx.store, principal, document))


@router.get(
    "/objects/{object_id}/children",
    tags=["objects"],
    response_model=None,
    responses={
        200: {
            "model": list[ObjectModel],
            "description": "The object's children the caller may see, as whole documents",
        },
        **error_responses(401, 404),
    },
)
async def get_object_children(object_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    object_id = await visible_object_ref(ctx.store, principal, object_id)
    parent = _shown(ctx.store, principal, await entities.object_document(ctx.store, object_id))
    documents = await entities.object_documents(ctx.store, parent["child_ids"])
    return json_response([_shown(ctx.store, principal, d) for d in documents])


@router.get(
    "/objects/{object_id}/children/links",
    tags=["objects"],
    response_model=None,
    responses={
        200: {
            "model": list[LinkModel],
            "description": "The links between the object's children that the caller may see",
        },
        **error_responses(401, 404),
    },
)
async def get_object_children_links(object_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    object_id = await visible_object_ref(ctx.store, principal, object_id)
    parent = _shown(ctx.store, principal, await entities.object_document(ctx.store, object_id))
    documents = await entities.link_documents(ctx.store, parent["child_link_ids"])
    return json_response([_shown(ctx.store, principal, d) for d in documents])


@router.patch(
    "/objects/{object_id}",
    tags=["objects"],
    response_model=None,
    responses={200: {"model": ObjectModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def update_object(object_id: str, body: ObjectUpdate, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    object_id = await visible_object_ref(ctx.store, principal, object_id)
    require_any(principal, "modify-objects", "manage-objects")
    changes = body.model_dump(exclude_unset=True)
    return json_response(await _change_object(ctx.store, principal, object_id, changes))


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
    object_id = await visible_object_ref(ctx.store, principal, object_id)
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
        class_id=class_id(body.class_id),
        properties=body.properties,
        operations=_own_operations(principal, body.operations),
        fields=_fields(principal, body, _LINK_CORE),
        on_service=service_properties_check(principal),
    )
    return json_response(_shown(ctx.store, principal, document))


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
    shown_documents = [_shown(ctx.store, principal, d) for d in documents]
    return json_response(_project(shown_documents, fields, LINK_LIST_DEFAULT))


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
    document = await entities.link_document(ctx.store, link_id)
    return json_response(_shown(ctx.store, principal, document))


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
    refuse_nulls(changes, _NOT_NULL)
    if "class_id" in changes:
        changes["class_id"] = class_id(changes["class_id"])
    document = await entities.update_link(
        ctx.store,
        link_id,
        changes,
        user_id=principal.id,
        on_service=service_properties_check(principal),
    )
    return json_response(_shown(ctx.store, principal, document))


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
