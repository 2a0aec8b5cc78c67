"""`python -m bot broadcast` and `python -m bot notify`, run as the operator runs them: a real
process on a SQLite file, Russian one-line messages and exit codes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Login, Notification
from services import notifications
from services.demo import DEMO_EMAIL, seed_demo_data
from services.identity import bind_login
from tests.unit.test_bills_cli import cli

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _subscribers(session: AsyncSession) -> Account:
    """The demo login in two Telegram chats; returns its account."""
    await seed_demo_data(session, today=date.today())
    login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
    assert login_id is not None
    for chat in (7001, 7002):
        await bind_login(session, chat, chat, login_id)
    await session.commit()
    account = await session.scalar(select(Account).order_by(Account.id).limit(1))
    assert account is not None
    return account


async def _queued(session: AsyncSession, kind: str) -> int:
    await session.rollback()
    count = await session.scalar(select(func.count()).where(Notification.kind == kind))
    return int(count or 0)


async def test_broadcast_to_everyone_or_by_address(
    session: AsyncSession, db_url: str, tmp_path: Path
) -> None:
    account = await _subscribers(session)
    street = account.address.split(",")[1].strip()
    text = tmp_path / "outage.txt"
    text.write_text("Плановое отключение 3 декабря с 10:00 до 14:00.\n", encoding="utf-8")
    dry = cli(db_url, tmp_path, "broadcast", "--text-file", str(text), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "Объявление получат 2 абонента (ничего не отправлено: --dry-run)."
    assert await _queued(session, notifications.ANNOUNCEMENT_KIND) == 0
    nowhere = cli(db_url, tmp_path, "broadcast", "--text-file", str(text),
                  "--address-contains", "ул. Несуществующая", "--dry-run")  # fmt: skip
    assert "получат 0 абонентов" in nowhere.stdout
    sent = cli(db_url, tmp_path, "broadcast", "--text-file", str(text),
               "--address-contains", street.upper())  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert "поставлено в очередь: 2 сообщения" in sent.stdout
    again = cli(db_url, tmp_path, "broadcast", "--text-file", str(text),
                "--address-contains", street.upper())  # fmt: skip
    assert "уже в очереди" in again.stdout
    assert await _queued(session, notifications.ANNOUNCEMENT_KIND) == 2


async def test_broadcast_files_it_cannot_use_are_one_line_and_exit_2(
    db_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    latin = tmp_path / "cp1251.txt"
    latin.write_bytes("Отключение".encode("cp1251"))
    long = tmp_path / "long.txt"
    long.write_text("а" * 4001, encoding="utf-8")
    for path, reason in (
        (tmp_path / "missing.txt", "не найден"),
        (tmp_path, "папка"),
        (empty, "нет текста"),
        (latin, "UTF-8"),
        (long, "4001 символов"),
    ):
        result = cli(db_url, tmp_path, "broadcast", "--text-file", str(path))
        assert result.returncode == 2, (path, result.stderr)
        assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


async def test_notify_shows_then_queues_what_is_due_now(
    session: AsyncSession, db_url: str, tmp_path: Path
) -> None:
    number = (await _subscribers(session)).number
    env = {"READING_WINDOW": "1-31", "READING_REMINDER_TIME": "00:00"}
    dry = cli(db_url, tmp_path, "notify", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    assert f"напоминание о показаниях — л/с {number}" in dry.stdout
    assert "2 чата" in dry.stdout
    assert await _queued(session, notifications.REMINDER_KIND) == 0
    queued = cli(db_url, tmp_path, "notify", **env)
    assert queued.returncode == 0, queued.stderr
    assert "напоминаний о показаниях — 2" in queued.stdout
    assert await _queued(session, notifications.REMINDER_KIND) == 2
    after = cli(db_url, tmp_path, "notify", "--dry-run", **env)
    assert "отправлять нечего" in after.stdout
