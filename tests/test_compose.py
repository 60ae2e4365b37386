"""What runs beside the API is composed outside it (compose.py): the server app starts the
embedded runner in its lifespan and stops it at shutdown; the API app alone runs no jobs."""

from __future__ import annotations

from sqlalchemy import func, select

from conftest import lifespan, settings_for_test
from helpers.execution import opened_store
from opsjobs.api.app import create_app
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.store.core import Store
from opsjobs.store.schema import runners


async def _runners(store: Store) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(runners))).scalar_one()


async def test_the_server_app_runs_its_runner_while_it_is_up(database_url):
    ctx = Context.create(settings_for_test(database_url))
    async with lifespan(server_app(context=ctx)):
        assert await _runners(ctx.store) == 1
    async with opened_store(database_url) as store:
        assert await _runners(store) == 0, "a stopped runner takes its row away"


async def test_the_api_alone_runs_no_runner(database_url):
    ctx = Context.create(settings_for_test(database_url))
    async with lifespan(create_app(context=ctx)):
        assert await _runners(ctx.store) == 0


async def test_without_an_embedded_runner_the_server_app_registers_none(database_url):
    ctx = Context.create(settings_for_test(database_url, embedded_runner=False))
    async with lifespan(server_app(context=ctx)):
        assert await _runners(ctx.store) == 0
