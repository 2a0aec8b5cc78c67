"""The baseline of benchmarks/updates.py: bare aiogram, one handler answering every message
(the same text, with one inline button) and every button press, no storage, no middlewares.

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:PORT python benchmarks/echo_bot.py
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

BUTTON = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Нажать", callback_data="press")]]
)
dispatcher = Dispatcher()


@dispatcher.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "?", reply_markup=BUTTON)


@dispatcher.callback_query()
async def pressed(query: CallbackQuery, bot: Bot) -> None:
    await query.answer()
    await bot.send_message(query.from_user.id, "нажато", reply_markup=BUTTON)


async def main() -> None:
    api = TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])
    bot = Bot(os.environ["BOT_TOKEN"], session=AiohttpSession(api=api))
    await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
