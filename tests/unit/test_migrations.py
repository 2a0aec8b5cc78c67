"""The schema only changes through Alembic: models and migrations agree, and both ways work."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import models
from bot.db import create_engine, downgrade_sync, upgrade_sync


def _diff(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, models.Base.metadata)


async def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    downgrade_sync(db_url, "base")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}
        upgrade_sync(db_url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    assert set(models.Base.metadata.tables) <= set(tables)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_first_run_creates_the_sqlite_folder(tmp_path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path}/nested/deeper/bot.db"
    upgrade_sync(url)
    assert (tmp_path / "nested" / "deeper" / "bot.db").exists()
