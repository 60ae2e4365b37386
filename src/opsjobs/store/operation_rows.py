"""How an operation is stored: its row from a document, its document from a row, and the
insert of new ones inside a caller's transaction (an entity or a class made with its
operations is made all at once)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import insert, select

from ..domain.clock import now_ms
from ..domain.errors import BadRequest
from ..domain.ids import new_id
from ..domain.operations import SCRIPT
from ..domain.templates import check_script
from .schema import operations, scripts


def operation_document(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.type,
        "description": row.description,
        "parameters": orjson.loads(row.parameters),
        "popupResult": bool(row.popup_result),
        "runOnReadWritePropertyModification": bool(row.run_on_rw_modification),
    }


def row_values(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": document["name"],
        "type": document["type"],
        "description": document["description"],
        "parameters": orjson.dumps(document["parameters"]).decode(),
        "popup_result": document["popupResult"],
        "run_on_rw_modification": document["runOnReadWritePropertyModification"],
    }


async def require_script(conn, document: dict[str, Any]) -> None:
    """A scriptReference operation must name a stored script whose template variables stand
    in safe spots and name only arguments the operation declares (400 otherwise)."""
    parameters = document["parameters"]
    if document["type"] != SCRIPT or parameters["type"] != "scriptReference":
        return
    found = await conn.execute(select(scripts.c.text).where(scripts.c.id == parameters["ref"]))
    row = found.first()
    if row is None:
        raise BadRequest(f"parameters.ref: no such script {parameters['ref']}")
    declared = parameters.get("arguments")
    try:
        check_script(row.text, None if declared is None else set(declared))
    except BadRequest as exc:
        raise BadRequest(f"parameters.ref: the script {parameters['ref']}: {exc.message}") from None


async def insert_operations(
    conn, kind: str, owner_id: str, documents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Insert validated operation documents for an owner, in the caller's transaction."""
    created = []
    for document in documents:
        await require_script(conn, document)
        operation_id, now = new_id(), now_ms()
        await conn.execute(
            insert(operations).values(
                id=operation_id,
                owner_kind=kind,
                owner_id=owner_id,
                created=now,
                updated=now,
                **row_values(document),
            )
        )
        created.append({"id": operation_id, **document})
    return created
