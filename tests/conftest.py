"""Shared fixtures: a migrated database per test (SQLite, and PostgreSQL when configured),
the app behind an in-process ASGI client, and quick ways to make users and entities.

Set OPSJOBS_TEST_PG_URL (e.g. postgresql://127.0.0.1/test) to run every store-backed test on
PostgreSQL as well. Under CI (CI=true) a missing PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# Every log line the suite produces is searched for the secrets it used: the plugin's hooks
# and fixture (log_secrets.py), imported here so that pytest finds them.
import log_secrets
from log_secrets import log_since, pytest_configure, pytest_sessionfinish, pytest_terminal_summary  # noqa: F401
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.config import Settings
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, users
from opsjobs.store.db import Database, normalize_url
from opsjobs.store.migrate import upgrade

PG_URL = os.environ.get("OPSJOBS_TEST_PG_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Argon2 at its cheapest: the suite creates many users; the cost itself is argon2-cffi's.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8}


def settings_for_test(database_url: str, **overrides) -> Settings:
    return Settings.from_env(database_url=database_url, **FAST_ARGON2, **overrides)


def _backends() -> list[str]:
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true needs OPSJOBS_TEST_PG_URL: PostgreSQL is not optional")
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backends(), scope="session")


# -- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file; each test gets a copy, which is faster than migrating."""
    path = tmp_path_factory.mktemp("template") / "opsjobs.db"

    async def build() -> None:
        database = Database(f"sqlite:///{path}")
        await upgrade(database)
        await database.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def pg_database() -> str:
    """A database of our own on the configured PostgreSQL, migrated once."""
    assert PG_URL
    admin_url = normalize_url(PG_URL)
    name = f"opsjobs_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def create() -> str:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        database = Database(url)
        await upgrade(database)
        await database.dispose()
        return url

    url = asyncio.run(create())
    yield url

    async def drop() -> None:
        kept = create_async_engine(url)
        async with kept.connect() as conn:
            await log_secrets.dump_audit_pg(conn, "postgresql")
        await kept.dispose()
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


_PG_TABLES = (
    "jobs, job_output, sessions, users, groups, objects, object_parents, links, classes, "
    "operations, scripts, state_triggers, runners, tags, property_changes, state_history, "
    "trigger_firings, trigger_deliveries, audit_log, schedules, purge_marks, batches, "
    "batch_targets"
)


async def _reset_pg(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await log_secrets.dump_audit_pg(conn, "postgresql")  # the last test's, searched at the end
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {_PG_TABLES}"))
        await conn.execute(
            # The root as the migrations leave it (0005: of SAYMON's class Root).
            text(
                "INSERT INTO objects (id, name, class_id, last_state_update, created, updated) "
                "VALUES ('1', 'Root', '1', 0, 0, 0)"
            )
        )
        await conn.execute(text("UPDATE revisions SET value = value + 1"))
    await engine.dispose()


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database for one test, on the backend the test is parametrized with
    (SQLite when the test does not ask for ``backend``)."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    if backend == "sqlite":
        path = tmp_path / "opsjobs.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        log_secrets.register_database(f"sqlite:///{path}")  # its audit rows: searched at the end
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    asyncio.run(_reset_pg(url))
    return url


# -- the app --------------------------------------------------------------------------------


def basic(login: str, password: str) -> dict[str, str]:
    log_secrets.register_password(login, password)
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# Start-up and shutdown of the app under test take milliseconds (a runner's shutdown with no
# running job included); this bound only turns a hang into a failure that says what hung. It
# is generous because on a loaded two-core machine a scheduling stall is not a hang.
LIFESPAN_SECONDS = 30


@contextlib.asynccontextmanager
async def lifespan(app) -> AsyncIterator[None]:
    """The app's lifespan (startup, then shutdown) around the body; a start-up or shutdown
    that does not end fails the test with the stacks of the tasks it was waiting for."""
    manager = LifespanManager(
        app, startup_timeout=LIFESPAN_SECONDS, shutdown_timeout=LIFESPAN_SECONDS
    )
    try:
        await manager.__aenter__()
    except TimeoutError:
        raise AssertionError(
            f"the app did not start within {LIFESPAN_SECONDS} s{_pending()}"
        ) from None
    try:
        yield
    except BaseException as exc:
        await manager.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    try:
        await manager.__aexit__(None, None, None)
    except TimeoutError:
        raise AssertionError(
            f"the app did not shut down within {LIFESPAN_SECONDS} s{_pending()}"
        ) from None


def _pending() -> str:
    current = asyncio.current_task()
    stacks = []
    for task in asyncio.all_tasks():
        if task is not current and not task.done():
            frames = task.get_stack(limit=3)
            where = [f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}" for f in frames]
            stacks.append(f"  {task.get_name()}: " + " <- ".join(where))
    return "; still pending:\n" + "\n".join(stacks)


@dataclass
class Api:
    """The app behind an ASGI client, with its context for arranging data directly."""

    client: httpx.AsyncClient
    ctx: Context

    @property
    def store(self):
        return self.ctx.store

    async def user(
        self,
        login: str,
        password: str = "user-password-4f1c",
        permissions: list[str] = (),
        include: list[str] = (),
        exclude: list[str] = (),
        **fields,
    ) -> dict[str, str]:
        """Create a user and answer its Basic auth headers."""
        log_secrets.register_password(login, password)
        await users.create_user(
            self.store,
            login=login,
            password_hash=self.ctx.passwords.hash(password),
            permissions=list(permissions),
            include=list(include),
            exclude=list(exclude),
            **fields,
        )
        return basic(login, password)

    async def admin(self) -> dict[str, str]:
        return await self.user("admin", "admin-secret", list(PERMISSIONS), ["1"])

    async def object(self, name: str, *parents: str) -> str:
        created = await entities.create_object(
            self.store, name=name, parent_ids=list(parents) or ["1"]
        )
        return created["id"]

    async def link(self, source: str, target: str) -> str:
        return (await entities.create_link(self.store, source=source, target=target))["id"]


@pytest.fixture
async def api(database_url) -> AsyncIterator[Api]:
    ctx = Context.create(settings_for_test(database_url))
    app = server_app(context=ctx)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", event_hooks=log_secrets.client_hooks()
        ) as client:
            yield Api(client, ctx)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(FAST_ARGON2["argon2_time_cost"], FAST_ARGON2["argon2_memory_kib"])
