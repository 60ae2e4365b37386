"""Revision 0003_user_profile carries a database made at the previous head over: its users
read back with SAYMON's profile fields at their defaults, their rights, tokens and sessions
as they were (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import hashlib

import orjson
from sqlalchemy import select, text

from helpers.migrations import database_at, migrate_to
from opsjobs.store import users
from opsjobs.store.core import Store
from opsjobs.store.db import Database
from opsjobs.store.migrate import current_revision, head_revision, upgrade
from opsjobs.store.schema import sessions

PREVIOUS_HEAD = "0002"
USER_ID = "6b0c3bc5109606ffd3a35593"
TOKEN = "f" * 40
SESSION_ID = "0123456789abcdef0123456789abcdef"


async def add_old_rows(database: Database) -> None:
    """A user and its session as the previous schema held them."""
    sha = hashlib.sha256
    async with database.writer.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, login, name, email, password_hash, status, permissions,"
                ' "include", "exclude", group_ids, token_hash, created, updated) VALUES'
                " (:id, 'example.user', 'Ex', 'ex@example.org', 'argon2-hash', 1, :perms,"
                " '[\"1\"]', '[]', '[]', :token_hash, 1, 2)"
            ),
            {
                "id": USER_ID,
                "perms": orjson.dumps(["manage-objects"]).decode(),
                "token_hash": sha(TOKEN.encode()).hexdigest(),
            },
        )
        await conn.execute(
            text(
                "INSERT INTO sessions (id_hash, user_id, created, last_seen)"
                " VALUES (:id_hash, :user_id, 1, 1)"
            ),
            {"id_hash": sha(SESSION_ID.encode()).hexdigest(), "user_id": USER_ID},
        )


async def carry_over(url: str) -> None:
    await migrate_to(url, PREVIOUS_HEAD)
    database = Database(url)
    try:
        await add_old_rows(database)
        await upgrade(database)
        async with database.reader.connect() as conn:
            assert await current_revision(conn) == head_revision()
    finally:
        await database.dispose()

    store = Store(url)
    await store.open()
    try:
        user = await users.get_user(store, USER_ID)
        assert user["login"] == "example.user" and user["name"] == "Ex"
        assert user["email"] == "ex@example.org"
        assert user["displayName"] == "exampl******"
        assert user["contacts"] == [] and user["language"] is None
        assert user["permissions"] == ["manage-objects"]
        assert user["objectPermissions"] == {"include": ["1"], "exclude": []}
        # The old token still logs in; it was kept only as a hash, so it reads back as null.
        assert user["authenticationToken"] is None
        token_hash = hashlib.sha256(TOKEN.encode()).hexdigest()
        assert store.directory.principal_by_token_hash(token_hash).id == USER_ID
        # The session survives, without a CSRF token (it can only read until a new log-in).
        async with store.read() as conn:
            row = (await conn.execute(select(sessions.c.user_id, sessions.c.csrf_hash))).one()
        assert row.user_id == USER_ID and row.csrf_hash is None
        # The new fields are writable as usual.
        changed = await users.update_user(
            store, USER_ID, {"display_name": "Ex U.", "contacts": ["+1 555"], "language": "en"}
        )
        assert changed["displayName"] == "Ex U." and changed["contacts"] == ["+1 555"]
    finally:
        await store.close()

    # And the revision can be taken back.
    await migrate_to(url, PREVIOUS_HEAD, down=True)
    database = Database(url)
    try:
        async with database.reader.connect() as conn:
            assert await current_revision(conn) == PREVIOUS_HEAD
            login = (await conn.execute(text("SELECT login FROM users"))).scalar_one()
        assert login == "example.user"
    finally:
        await database.dispose()


async def test_a_database_is_carried_over(backend, tmp_path):
    async with database_at(backend, tmp_path, "base") as url:
        await carry_over(url)
