"""Getting a file a user sent: size checked before download, bytes from the Bot API server."""

from __future__ import annotations

import io

from aiogram import Bot
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from models import StoredFile
from services.files import check_size, store_file


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


async def store_upload(
    bot: Bot, message: Message, session: AsyncSession, settings: Settings
) -> StoredFile:
    """Download the document or photo of a message, check it and save it (the caller commits);
    raises services.files.FileTooLarge or UnsupportedFileType."""
    file_id, unique_id, size, filename = file_of(message)
    data = await download(bot, file_id, size, settings.max_upload_mb)
    return await store_file(
        session,
        settings.upload_dir,
        data,
        filename=filename,
        limit_mb=settings.max_upload_mb,
        telegram_file_id=file_id,
        telegram_file_unique_id=unique_id,
    )
