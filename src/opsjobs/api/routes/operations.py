"""Operations of objects, links and classes, their execution, classes and stored scripts
(docs/api.md §9, §12, §13).

Rights, in the order of docs/api.md §2: an entity the caller may not see is a 404 whatever the
permissions; then the action permissions. Classes are visible to every caller (they are
catalogue, not monitored things), so for them only existence comes before permissions.
Scripts are code: every script route needs ``manage-scripts``, so its 403 comes first.
"""

# No ``from __future__ import annotations``: the handlers' path parameters are typed with
# aliases made per kind inside router(), which FastAPI must see as objects, not strings.

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from ...domain.errors import BadRequest
from ...domain.operations import shown, validate_all
from ...domain.users import Principal
from ...store import classes, scripts
from ...store import operations as ops
from ..bodies import CheckedRoute
from ..context import Context
from ..guards import require_all, visible_entity
from ..models import (
    ClassCreate,
    ClassModel,
    ClassUpdate,
    OperationCreate,
    OperationModel,
    OperationSummary,
    OperationUpdate,
    ScriptCreate,
    ScriptModel,
    ScriptUpdate,
    error_responses,
)
from ..responses import empty_response, json_response

_MANAGE = {"object": "manage-objects", "link": "manage-links", "class": "manage-classes"}
_PLURAL = {"object": "objects", "link": "links", "class": "classes"}

OperationView = OperationModel | OperationSummary


def _refuse_nulls(changes: dict, fields: tuple[str, ...]) -> None:
    for field in fields:
        if field in changes and changes[field] is None:
            raise BadRequest(f"{field}: must not be null")


def router(ctx: Context) -> APIRouter:
    api = APIRouter(route_class=CheckedRoute)
    store, auth = ctx.store, ctx.auth

    def operation_routes(kind: str) -> None:
        base = f"/{_PLURAL[kind]}/{{{kind}_id}}/operations"
        # Each kind names its ID as the entity routes do ({object_id}, {link_id}, {class_id}).
        OwnerId = Annotated[str, Path(alias=f"{kind}_id")]
        manage = (_MANAGE[kind], "manage-operations")
        tags = [_PLURAL[kind]]

        @api.get(
            base,
            tags=tags,
            name=f"list_{kind}_operations",
            summary=f"Operations of a {kind}"
            + (" (own and inherited from its class)" if kind != "class" else ""),
            response_model=None,
            responses={200: {"model": list[OperationView]}, **error_responses(401, 404)},
        )
        async def list_operations(owner_id: OwnerId, request: Request) -> Response:
            principal = await auth.authenticate(request)
            await visible_entity(store, principal, kind, owner_id)
            found = await ops.list_operations(store, kind, owner_id)
            return json_response(shown(principal.rights, found))

        @api.post(
            base,
            tags=tags,
            name=f"create_{kind}_operation",
            summary=f"Add an operation to a {kind}",
            response_model=None,
            responses={200: {"model": OperationModel}, **error_responses(400, 401, 403, 404, 413)},
        )
        async def create_operation(
            owner_id: OwnerId, body: OperationCreate, request: Request
        ) -> Response:
            principal = await auth.authenticate(request)
            await visible_entity(store, principal, kind, owner_id)
            require_all(principal, *manage)
            document = body.model_dump()
            return json_response(await ops.create_operation(store, kind, owner_id, document))

        @api.patch(
            base + "/{operation_id}",
            tags=tags,
            name=f"update_{kind}_operation",
            summary=f"Change an operation of a {kind}; type and parameters.type cannot change",
            response_model=None,
            responses={200: {"model": OperationModel}, **error_responses(400, 401, 403, 404, 413)},
        )
        async def update_operation(
            owner_id: OwnerId, operation_id: str, body: OperationUpdate, request: Request
        ) -> Response:
            principal = await auth.authenticate(request)
            await visible_entity(store, principal, kind, owner_id)
            require_all(principal, *manage)
            changes = body.model_dump(exclude_unset=True)
            _refuse_nulls(
                changes, ("name", "type", "popupResult", "runOnReadWritePropertyModification")
            )
            document = await ops.update_operation(store, kind, owner_id, operation_id, changes)
            return json_response(document)

        @api.delete(
            base + "/{operation_id}",
            tags=tags,
            name=f"delete_{kind}_operation",
            summary=f"Delete an operation of a {kind}; its jobs stay",
            response_model=None,
            responses={
                200: {"description": "Deleted; empty body"},
                **error_responses(401, 403, 404),
            },
        )
        async def delete_operation(
            owner_id: OwnerId, operation_id: str, request: Request
        ) -> Response:
            principal = await auth.authenticate(request)
            await visible_entity(store, principal, kind, owner_id)
            require_all(principal, *manage)
            await ops.delete_operation(store, kind, owner_id, operation_id)
            return empty_response()

    for kind in ("object", "link", "class"):
        operation_routes(kind)

    # -- classes ---------------------------------------------------------------------------

    @api.get(
        "/classes",
        tags=["classes"],
        response_model=None,
        responses={200: {"model": list[ClassModel]}, **error_responses(401)},
    )
    async def list_classes(request: Request) -> Response:
        principal = await auth.authenticate(request)
        found = await classes.class_documents(store)
        for document in found:
            document["operations"] = shown(principal.rights, document["operations"])
        return json_response(found)

    @api.post(
        "/classes",
        tags=["classes"],
        response_model=None,
        responses={200: {"model": ClassModel}, **error_responses(400, 401, 403, 409, 413)},
    )
    async def create_class(body: ClassCreate, request: Request) -> Response:
        principal = await auth.authenticate(request)
        if body.operations:
            require_all(principal, "manage-classes", "manage-operations")
        else:
            require_all(principal, "manage-classes")
        documents = validate_all([operation.model_dump() for operation in body.operations])
        created = await classes.create_class(
            store, name=body.name, class_id=body.id, operations=documents
        )
        return json_response(created)

    @api.get(
        "/classes/{class_id}",
        tags=["classes"],
        response_model=None,
        responses={200: {"model": ClassModel}, **error_responses(401, 404)},
    )
    async def get_class(class_id: str, request: Request) -> Response:
        principal = await auth.authenticate(request)
        document = await classes.class_document(store, class_id)
        document["operations"] = shown(principal.rights, document["operations"])
        return json_response(document)

    @api.patch(
        "/classes/{class_id}",
        tags=["classes"],
        response_model=None,
        responses={200: {"model": ClassModel}, **error_responses(400, 401, 403, 404, 413)},
    )
    async def update_class(class_id: str, body: ClassUpdate, request: Request) -> Response:
        principal = await auth.authenticate(request)
        await visible_entity(store, principal, "class", class_id)
        require_all(principal, "manage-classes")
        await classes.rename_class(store, class_id, body.name)
        document = await classes.class_document(store, class_id)
        document["operations"] = shown(principal.rights, document["operations"])
        return json_response(document)

    @api.delete(
        "/classes/{class_id}",
        tags=["classes"],
        response_model=None,
        responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
    )
    async def delete_class(class_id: str, request: Request) -> Response:
        principal = await auth.authenticate(request)
        await visible_entity(store, principal, "class", class_id)
        require_all(principal, "manage-classes")
        await classes.delete_class(store, class_id)
        return empty_response()

    # -- stored scripts --------------------------------------------------------------------

    async def script_manager(request: Request) -> Principal:
        principal = await auth.authenticate(request)
        require_all(principal, "manage-scripts")
        return principal

    @api.get(
        "/scripts",
        tags=["scripts"],
        response_model=None,
        responses={200: {"model": list[ScriptModel]}, **error_responses(401, 403)},
    )
    async def list_scripts(request: Request) -> Response:
        await script_manager(request)
        return json_response(await scripts.list_scripts(store))

    @api.post(
        "/scripts",
        tags=["scripts"],
        response_model=None,
        responses={200: {"model": ScriptModel}, **error_responses(400, 401, 403, 413)},
    )
    async def create_script(body: ScriptCreate, request: Request) -> Response:
        await script_manager(request)
        _refuse_nul(body.text)
        return json_response(await scripts.create_script(store, name=body.name, text=body.text))

    @api.get(
        "/scripts/{script_id}",
        tags=["scripts"],
        response_model=None,
        responses={200: {"model": ScriptModel}, **error_responses(401, 403, 404)},
    )
    async def get_script(script_id: str, request: Request) -> Response:
        await script_manager(request)
        return json_response(await scripts.get_script(store, script_id))

    @api.patch(
        "/scripts/{script_id}",
        tags=["scripts"],
        response_model=None,
        responses={200: {"model": ScriptModel}, **error_responses(400, 401, 403, 404, 413)},
    )
    async def update_script(script_id: str, body: ScriptUpdate, request: Request) -> Response:
        await script_manager(request)
        changes = body.model_dump(exclude_unset=True)
        _refuse_nulls(changes, ("name", "text"))
        _refuse_nul(changes.get("text", ""))
        return json_response(await scripts.update_script(store, script_id, changes))

    @api.delete(
        "/scripts/{script_id}",
        tags=["scripts"],
        response_model=None,
        responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
    )
    async def delete_script(script_id: str, request: Request) -> Response:
        await script_manager(request)
        await scripts.delete_script(store, script_id)
        return empty_response()

    return api


def _refuse_nul(text: str) -> None:
    # A script is run as a file by an interpreter; a NUL in it would cut it short silently.
    if "\0" in text:
        raise BadRequest("text: must not contain NUL characters")
