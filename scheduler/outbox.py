"""Delivers the notifications outbox every few seconds."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.texts import notifications as notification_texts
from handlers.contracts import post_card
from keyboards import notifications as notification_keyboards
from services import notifications
from services.contracts import CARD_KIND

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 3


async def _send_card(runtime: Runtime, item: notifications.OutgoingMessage) -> None:
    async with runtime.sessions() as session:
        await post_card(runtime.bot, runtime.settings, session, int(item.payload["application_id"]))


# Kinds a feature delivers itself (a card with buttons and files), not as one text message.
SENDERS = {CARD_KIND: _send_card}


async def deliver_outbox(runtime: Runtime) -> int:
    """Send what is due; returns how many were sent."""
    sent = 0
    async with runtime.sessions() as session:
        batch = await notifications.claim_due(session)
        for item in batch:
            try:
                if item.kind in SENDERS:
                    await SENDERS[item.kind](runtime, item)
                else:
                    text = notification_texts.render(item.kind, item.payload)
                    markup = notification_keyboards.keyboard(item.kind, item.payload)
                    await runtime.bot.send_message(item.chat_id, text, reply_markup=markup)
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                await notifications.mark_failed(session, item.id, str(exc), permanent=True)
            except (TelegramAPIError, OSError) as exc:
                await notifications.mark_failed(session, item.id, str(exc))
            except KeyError as exc:
                log.error("no text for notification kind %s", exc)
                await notifications.mark_failed(session, item.id, "unknown kind", permanent=True)
            else:
                await notifications.mark_sent(session, item.id)
                sent += 1
    return sent


def register(scheduler: AsyncIOScheduler, runtime: Runtime) -> None:
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=INTERVAL_SECONDS,
        args=[runtime],
        id="outbox",
        max_instances=1,
        coalesce=True,
    )
