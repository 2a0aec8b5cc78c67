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


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config, head_revision

    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db"))
    assert head_revision() == script.get_current_head()


async def test_a_start_at_head_does_not_load_alembic_and_one_behind_upgrades(
    db_url: str,
) -> None:
    """`apply_migrations` on an up-to-date database leaves Alembic unimported (its memory is
    most of what a bot process holds beyond aiogram and SQLAlchemy); one revision behind, it
    upgrades as before."""
    import subprocess
    import sys

    from bot.db import PROJECT_ROOT, head_revision, schema_revision

    probe = (
        "import asyncio, sys\n"
        "from bot.db import apply_migrations\n"
        f"asyncio.run(apply_migrations({db_url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )

    def loaded_alembic() -> bool:
        out = subprocess.run(
            [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip() == "True"

    assert not loaded_alembic()
    downgrade_sync(db_url, "-1")
    assert await schema_revision(db_url) != head_revision()
    assert loaded_alembic()
    assert await schema_revision(db_url) == head_revision()
