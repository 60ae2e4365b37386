"""Stored scripts (docs/api.md §13): script text that operations run by reference.

Scripts are code: every script route needs ``manage-scripts``, so its 403 comes first.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.errors import BadRequest
from ...store import scripts
from ...store.core import Store
from ..bodies import CheckedRoute, refuse_nulls
from ..context import context
from ..guards import require_all
from ..models import ScriptCreate, ScriptModel, ScriptUpdate, error_responses
from ..responses import empty_response, json_response

router = APIRouter(route_class=CheckedRoute, tags=["scripts"])


async def _script_manager_store(request: Request) -> Store:
    """The store, once the caller is found to hold ``manage-scripts``."""
    ctx = context(request)
    require_all(await ctx.auth.authenticate(request), "manage-scripts")
    return ctx.store


def _refuse_nul(text: str) -> None:
    # A script is run as a file by an interpreter; a NUL in it would cut it short silently.
    if "\0" in text:
        raise BadRequest("text: must not contain NUL characters")


@router.get(
    "/scripts",
    response_model=None,
    responses={200: {"model": list[ScriptModel]}, **error_responses(401, 403)},
)
async def list_scripts(request: Request) -> Response:
    store = await _script_manager_store(request)
    return json_response(await scripts.list_scripts(store))


@router.post(
    "/scripts",
    response_model=None,
    responses={200: {"model": ScriptModel}, **error_responses(400, 401, 403, 413)},
)
async def create_script(body: ScriptCreate, request: Request) -> Response:
    store = await _script_manager_store(request)
    _refuse_nul(body.text)
    return json_response(await scripts.create_script(store, name=body.name, text=body.text))


@router.get(
    "/scripts/{script_id}",
    response_model=None,
    responses={200: {"model": ScriptModel}, **error_responses(401, 403, 404)},
)
async def get_script(script_id: str, request: Request) -> Response:
    store = await _script_manager_store(request)
    return json_response(await scripts.get_script(store, script_id))


@router.patch(
    "/scripts/{script_id}",
    response_model=None,
    responses={200: {"model": ScriptModel}, **error_responses(400, 401, 403, 404, 413)},
)
async def update_script(script_id: str, body: ScriptUpdate, request: Request) -> Response:
    store = await _script_manager_store(request)
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name", "text"))
    _refuse_nul(changes.get("text", ""))
    return json_response(await scripts.update_script(store, script_id, changes))


@router.delete(
    "/scripts/{script_id}",
    response_model=None,
    responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
)
async def delete_script(script_id: str, request: Request) -> Response:
    store = await _script_manager_store(request)
    await scripts.delete_script(store, script_id)
    return empty_response()
