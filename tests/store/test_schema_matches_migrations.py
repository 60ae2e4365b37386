"""The tables the migrations build are the tables store/schema.py describes: a column or an
index added to one and not the other fails here, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from opsjobs.store.db import Database
from opsjobs.store.schema import metadata


async def test_the_migrated_database_is_the_schema(backend, database_url) -> None:
    database = Database(database_url)
    try:
        async with database.writer.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await database.dispose()
    assert differences == []
