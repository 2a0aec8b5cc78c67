"""Getting a file a user sent: size checked before download, bytes from the Bot API server."""

from __future__ import annotations

import io

from aiogram import Bot
from aiogram.types import Message

from services.files import check_size


class NoFileInMessage(Exception):
    pass


def file_of(message: Message) -> tuple[str, str | None, int | None, str | None]:
    """(file_id, file_unique_id, size, filename) of a document or the largest photo size."""
    if message.document is not None:
        document = message.document
        return document.file_id, document.file_unique_id, document.file_size, document.file_name
    if message.photo:
        photo = message.photo[-1]
        return photo.file_id, photo.file_unique_id, photo.file_size, None
    raise NoFileInMessage


async def download(bot: Bot, file_id: str, size: int | None, limit_mb: int) -> bytes:
    """Raises services.files.FileTooLarge before fetching anything too big."""
    check_size(size, limit_mb)
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    data = buffer.getvalue()
    check_size(len(data), limit_mb)
    return data
