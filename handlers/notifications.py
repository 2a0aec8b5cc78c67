"""The buttons under pushed reminders and bills: open the readings or the payment of the
account the push was about (switching the current account to it), or «Напомнить завтра»."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.settings import Settings
from bot.texts import notifications as texts
from handlers import payments, readings
from keyboards.notifications import PushAction, PushCb
from keyboards.payments import PayBillCb
from services import accounts
from services import notifications as service
from services.errors import NotFound
from services.identity import CurrentAccount, Viewer

router = Router(name="notifications")
DOUBLE_PRESS = timedelta(seconds=10)
ANY_STATE = StateFilter("*")


async def _switch(
    session: AsyncSession, viewer: Viewer, account_id: int, callback_answer: CallbackAnswer
) -> Viewer | None:
    """The viewer with `account_id` as the current account, or None (answered why)."""
    if viewer.login_id is None:
        callback_answer.text = texts.LOGIN_FIRST
        return None
    try:
        card = await accounts.make_current(session, viewer.login_id, account_id)
    except NotFound:
        callback_answer.text = texts.ACCOUNT_GONE
        return None
    return dataclasses.replace(viewer, account=CurrentAccount(card.id, card.number, card.address))


@router.callback_query(PushCb.filter(F.action == PushAction.READINGS), ANY_STATE)
async def open_readings(
    query: CallbackQuery,
    callback_data: PushCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    message = query.message if isinstance(query.message, Message) else None
    if message is not None and await _opened_just_now(state, message, clock):
        callback_answer.text = texts.READINGS_ALREADY_OPENED  # a double press: one list
        return
    switched = await _switch(session, viewer, callback_data.account_id, callback_answer)
    if switched is not None and message is not None:
        await readings.show_meters(message, state, session, switched, settings, clock)
        await state.update_data(push_opened=[message.message_id, clock.now().isoformat()])


async def _opened_just_now(state: FSMContext, message: Message, clock: Clock) -> bool:
    """Whether this reminder's «Передать показания» opened the meters moments ago (and nothing
    has happened in the chat since: any dialog step replaces the dialog's data)."""
    opened = (await state.get_data()).get("push_opened")
    if not opened or opened[0] != message.message_id:
        return False
    return clock.now() - datetime.fromisoformat(opened[1]) < DOUBLE_PRESS


@router.callback_query(PushCb.filter(F.action == PushAction.PAY), ANY_STATE)
async def pay(
    query: CallbackQuery,
    callback_data: PushCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    callback_answer: CallbackAnswer,
) -> None:
    switched = await _switch(session, viewer, callback_data.account_id, callback_answer)
    if switched is not None:
        await payments.open_for_bill(
            query,
            PayBillCb(charge_id=callback_data.charge_id),
            state,
            session,
            switched,
            settings,
            callback_answer,
        )


@router.callback_query(PushCb.filter(F.action == PushAction.SNOOZE), ANY_STATE)
async def snooze(
    query: CallbackQuery,
    callback_data: PushCb,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    if viewer.login_id is None or query.message is None:
        callback_answer.text = texts.LOGIN_FIRST
        return
    try:
        day = await service.snooze_reminder(
            session,
            login_id=viewer.login_id,
            chat_id=query.message.chat.id,
            account_id=callback_data.account_id,
            now=clock.now(),
            zone=settings.zone,
            window=settings.reading_window_days,
        )
    except service.ReadingsAlreadyIn:
        callback_answer.text = texts.READINGS_ALREADY_IN
    except service.CannotSnooze:
        callback_answer.text = texts.SNOOZE_LAST_DAY
    else:
        callback_answer.text = texts.snoozed(day)
