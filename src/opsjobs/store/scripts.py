"""Stored scripts (``/node/api/scripts``), which ``scriptReference`` operations name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, NotFound
from ..domain.ids import new_id
from ..domain.templates import check_script
from .core import Store
from .schema import scripts


def script_document(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "text": row.text,
        "created": row.created,
        "updated": row.updated,
    }


async def list_scripts(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        rows = await conn.execute(select(scripts).order_by(scripts.c.created, scripts.c.id))
        return [script_document(row) for row in rows]


async def get_script(store: Store, script_id: str) -> dict[str, Any]:
    async with store.read() as conn:
        row = (await conn.execute(select(scripts).where(scripts.c.id == script_id))).first()
    if row is None:
        raise NotFound.entity("Script", script_id)
    return script_document(row)


async def script_text(store: Store, script_id: str) -> str | None:
    async with store.read() as conn:
        result = await conn.execute(select(scripts.c.text).where(scripts.c.id == script_id))
        return result.scalar_one_or_none()


def _checked(text: str) -> str:
    """A script's template variables must stand in safe spots (templates.py), checked when
    it is saved; whether the arguments they name are declared is checked with each
    operation that names the script, when it is saved and when it runs."""
    try:
        check_script(text)
    except BadRequest as exc:
        raise BadRequest(f"text: {exc.message}") from None
    return text


async def create_script(store: Store, *, name: str, text: str) -> dict[str, Any]:
    _checked(text)
    script_id, now = new_id(), now_ms()
    async with store.write() as conn:
        await conn.execute(
            insert(scripts).values(id=script_id, name=name, text=text, created=now, updated=now)
        )
    return await get_script(store, script_id)


async def update_script(store: Store, script_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply validated changes (name, text). Queued jobs keep the text they were made with."""
    if "text" in changes:
        _checked(changes["text"])
    async with store.write() as conn:
        result = await conn.execute(
            update(scripts).where(scripts.c.id == script_id).values(**changes, updated=now_ms())
        )
        if result.rowcount == 0:
            raise NotFound.entity("Script", script_id)
    return await get_script(store, script_id)


async def delete_script(store: Store, script_id: str) -> None:
    # Operations naming it stay; executing one answers 400 naming parameters.ref.
    async with store.write() as conn:
        result = await conn.execute(delete(scripts).where(scripts.c.id == script_id))
        if result.rowcount == 0:
            raise NotFound.entity("Script", script_id)
