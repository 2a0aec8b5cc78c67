"""`python -m bot broadcast --text-file F [--address-contains S] [--dry-run]`: an operator's
announcement (a planned outage, office hours) to every logged-in subscriber, or only to those
with an account whose address contains S, through the notifications outbox (the running bot
sends it within Telegram's limits). Repeating the same command queues nothing twice."""

from __future__ import annotations

import argparse
import hashlib

from bot.cli.import_registry import readable_file
from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import OperatorError, Settings
from bot.texts import notifications as texts
from services import notifications

NAME = "broadcast"
HELP = "объявление всем вошедшим абонентам (или по адресу) через очередь уведомлений бота"
MAX_LENGTH = 4000  # Telegram takes 4096 characters; the announcement's mark comes first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text-file", required=True, metavar="ФАЙЛ", help="текст объявления, UTF-8"
    )
    parser.add_argument(
        "--address-contains", metavar="ТЕКСТ",
        help="только абонентам с лицевым счётом, в адресе которого есть этот текст",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="только показать, сколько абонентов получат"
    )


def read_text(path: str) -> str:
    file = readable_file(path)
    try:
        body = file.read_text(encoding="utf-8-sig").strip()
    except UnicodeDecodeError:
        raise OperatorError(texts.broadcast_not_utf8(path), exit_code=2) from None
    if not body:
        raise OperatorError(texts.broadcast_empty(path), exit_code=2)
    if len(body) > MAX_LENGTH:
        raise OperatorError(texts.broadcast_too_long(path, len(body), MAX_LENGTH), exit_code=2)
    return body


async def run(settings: Settings, args: argparse.Namespace) -> int:
    body = read_text(args.text_file)
    fragment = (args.address_contains or "").strip() or None
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            chats = await notifications.announcement_chats(session, fragment)
            if args.dry_run:
                print(texts.broadcast_dry_run(len(chats), fragment))
                return 0
            key = hashlib.sha256(f"{fragment}\n{body}".encode()).hexdigest()[:16]
            queued = await notifications.queue_announcement(session, body, chats, key=key)
    finally:
        await engine.dispose()
    print(texts.broadcast_queued(queued, len(chats), settings.outbox_rate))
    return 0
