"""Users and groups: rows, documents and changes (each change bumps the directory revision)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, Conflict, NotFound
from ..domain.ids import new_id
from ..domain.names import check_name, look_alike, normalize_login
from ..domain.profile import check_display_name, shown_display_name
from ..domain.users import LoginState, change_ends_sessions
from .core import Store
from .db import bump_revision
from .schema import groups, users
from .sessions import end_user_sessions


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_document(row: Any) -> dict[str, Any]:
    """A user as the API shows it to the user itself and to ``manage-users``: never the
    password hash; the API token as SAYMON shows it (null when none is readable)."""
    return {
        "id": row.id,
        "login": row.login,
        "displayName": shown_display_name(row.login, row.display_name),
        "name": row.name,
        "email": row.email,
        "status": row.status,
        "activeTo": row.active_to,
        "authenticationToken": row.token,
        "permissions": orjson.loads(row.permissions),
        "objectPermissions": {
            "include": orjson.loads(row.include),
            "exclude": orjson.loads(row.exclude),
        },
        "groups": orjson.loads(row.group_ids),
        "group": orjson.loads(row.group_ids),  # SAYMON's name of the same list
        "contacts": orjson.loads(row.contacts),
        "language": row.language,
        "created": row.created,
        "updated": row.updated,
    }


def public_user_document(row: Any) -> dict[str, Any]:
    """A user as SAYMON lists it to a caller without ``manage-users``: its ID, and its
    display name in place of the login."""
    return {"id": row.id, "login": shown_display_name(row.login, row.display_name)}


def group_document(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "permissions": orjson.loads(row.permissions),
        "objectPermissions": {
            "include": orjson.loads(row.include),
            "exclude": orjson.loads(row.exclude),
        },
        "created": row.created,
        "updated": row.updated,
    }


def _json(value: list[str]) -> str:
    return orjson.dumps(list(value)).decode()


async def create_user(
    store: Store,
    *,
    login: str,
    password_hash: str,
    name: str = "",
    email: str = "",
    status: int = 1,
    active_to: int | None = None,
    permissions: list[str] = (),
    include: list[str] = (),
    exclude: list[str] = (),
    group_ids: list[str] = (),
    display_name: str | None = None,
    contacts: list[str] = (),
    language: str | None = None,
) -> dict[str, Any]:
    login = normalize_login(login)
    check_name(name)
    if display_name is not None:
        check_display_name(display_name, login)
    user_id = new_id()
    now = now_ms()
    try:
        async with store.write() as conn:
            # First: on PostgreSQL the revision row's lock makes concurrent user changes take
            # turns, so two logins that look alike cannot both pass the check below.
            await bump_revision(conn)
            await _check_groups(conn, group_ids)
            await _check_login_is_distinct(conn, login, user_id)
            await conn.execute(
                insert(users).values(
                    id=user_id,
                    login=login,
                    name=name,
                    email=email,
                    password_hash=password_hash,
                    status=status,
                    active_to=active_to,
                    permissions=_json(permissions),
                    include=_json(include),
                    exclude=_json(exclude),
                    group_ids=_json(group_ids),
                    display_name=display_name,
                    contacts=_json(contacts),
                    language=language,
                    created=now,
                    updated=now,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"A user with login {login!r} already exists") from exc
    await store.reload_directory()
    return await get_user(store, user_id)


async def _check_login_is_distinct(conn, login: str, user_id: str) -> None:
    others = [
        row.login for row in await conn.execute(select(users.c.login).where(users.c.id != user_id))
    ]
    if login in others:
        raise Conflict(f"A user with login {login!r} already exists")
    clash = look_alike(login, others)
    if clash is not None:
        raise BadRequest(f"login {login!r} looks like the existing login {clash!r}")


async def _check_groups(conn, group_ids) -> None:
    if not group_ids:
        return
    found = {
        r.id for r in await conn.execute(select(groups.c.id).where(groups.c.id.in_(group_ids)))
    }
    missing = [g for g in group_ids if g not in found]
    if missing:
        raise BadRequest(f"Unknown group: {missing[0]}")


async def get_user(store: Store, user_id: str) -> dict[str, Any]:
    async with store.read() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound.entity("User", user_id)
    return user_document(row)


async def list_users(store: Store, *, public: bool = False) -> list[dict[str, Any]]:
    """Every user; ``public``: as a caller without ``manage-users`` may see them."""
    shown = public_user_document if public else user_document
    async with store.read() as conn:
        rows = await conn.execute(select(users).order_by(users.c.created, users.c.id))
        return [shown(r) for r in rows]


_JSON_FIELDS = {"permissions", "include", "exclude", "group_ids", "contacts"}


async def update_user(store: Store, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply column changes (already validated); a change to a user forgets its cached logins,
    and one that ``change_ends_sessions`` names ends its sessions."""
    if "login" in changes:
        changes = {**changes, "login": normalize_login(changes["login"])}
    if "name" in changes:
        check_name(changes["name"])
    values = {k: (_json(v) if k in _JSON_FIELDS else v) for k, v in changes.items()}
    now = values["updated"] = now_ms()
    try:
        async with store.write() as conn:
            await bump_revision(conn)  # first, as in create_user
            before = await _locked_user(conn, user_id)
            await _check_changes(conn, user_id, before, changes)
            old = LoginState(before.password_hash, before.status, before.active_to)
            await conn.execute(update(users).where(users.c.id == user_id).values(**values))
            new = LoginState(
                values.get("password_hash", old.password_hash),
                values.get("status", old.status),
                values.get("active_to", old.active_to),
            )
            if change_ends_sessions(old, new, now):
                await end_user_sessions(conn, user_id)
    except IntegrityError as exc:
        raise Conflict(f"A user with login {changes.get('login')!r} already exists") from exc
    await store.reload_directory()
    return await get_user(store, user_id)


async def _locked_user(conn, user_id: str) -> Any:
    before = (
        await conn.execute(
            select(
                users.c.login,
                users.c.display_name,
                users.c.password_hash,
                users.c.status,
                users.c.active_to,
            )
            .where(users.c.id == user_id)
            .with_for_update()
        )
    ).first()
    if before is None:
        raise NotFound.entity("User", user_id)
    return before


async def _check_changes(conn, user_id: str, before: Any, changes: dict[str, Any]) -> None:
    if "group_ids" in changes:
        await _check_groups(conn, changes["group_ids"])
    if "login" in changes:
        await _check_login_is_distinct(conn, changes["login"], user_id)
    login = changes.get("login", before.login)
    shown = changes.get("display_name", before.display_name)
    if shown is not None and ("display_name" in changes or "login" in changes):
        check_display_name(shown, login)


async def delete_user(store: Store, user_id: str) -> None:
    async with store.write() as conn:
        result = await conn.execute(delete(users).where(users.c.id == user_id))
        if result.rowcount == 0:
            raise NotFound.entity("User", user_id)
        await bump_revision(conn)
    await store.reload_directory()


async def set_token(store: Store, user_id: str, token: str | None) -> None:
    async with store.write() as conn:
        result = await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(token_hash=token_hash(token) if token else None, token=token, updated=now_ms())
        )
        if result.rowcount == 0:
            raise NotFound.entity("User", user_id)
        await bump_revision(conn)
    await store.reload_directory()


async def create_group(
    store: Store,
    *,
    name: str,
    permissions: list[str] = (),
    include: list[str] = (),
    exclude: list[str] = (),
) -> dict[str, Any]:
    check_name(name)
    group_id = new_id()
    now = now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(groups).values(
                    id=group_id,
                    name=name,
                    permissions=_json(permissions),
                    include=_json(include),
                    exclude=_json(exclude),
                    created=now,
                    updated=now,
                )
            )
            await bump_revision(conn)
    except IntegrityError as exc:
        raise Conflict(f"A group named {name!r} already exists") from exc
    await store.reload_directory()
    async with store.read() as conn:
        row = (await conn.execute(select(groups).where(groups.c.id == group_id))).one()
    return group_document(row)


async def group_ids_by_name(store: Store, names: list[str]) -> list[str]:
    async with store.read() as conn:
        rows = await conn.execute(
            select(groups.c.id, groups.c.name).where(groups.c.name.in_(names))
        )
        found = {r.name: r.id for r in rows}
    missing = [n for n in names if n not in found]
    if missing:
        raise BadRequest(f"Unknown group: {missing[0]}")
    return [found[n] for n in names]


async def list_groups(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        return [
            group_document(r) for r in await conn.execute(select(groups).order_by(groups.c.name))
        ]
