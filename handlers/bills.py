"""«🧾 Счета»: the last 6 bills of the current account, a bill's detail and its PDF receipt."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.filters import HasAccount
from bot.settings import Settings
from bot.texts import bills as texts
from bot.texts import common as common_texts
from keyboards import bills as kb
from keyboards.bills import BillAction, BillsCb
from services import billing as service
from services import receipts
from services.identity import Viewer

router = Router(name="bills")

ANY_STATE = StateFilter("*")
SHOWN_BILLS = 6


@router.message(F.text == common_texts.MENU_BILLS, ANY_STATE, HasAccount())
async def show_bills(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
) -> None:
    await state.clear()
    await _send_list(message, session, viewer, settings, clock)


async def _send_list(
    message: Message, session: AsyncSession, viewer: Viewer, settings: Settings, clock: Clock
) -> None:
    assert viewer.account is not None
    account = viewer.account
    states = await service.bill_statuses(session, account.id, limit=SHOWN_BILLS)
    if not states:
        upcoming = await service.next_bill(
            session, account.id, clock.today(), settings.reading_window_days
        )
        await message.answer(
            texts.no_bills(account.number, account.address, upcoming, settings.reading_window_days)
        )
        return
    await message.answer(
        texts.bills_list(account.number, account.address, states, clock.today()),
        reply_markup=kb.bills(
            [(s.charge_id, texts.period_title(s.period), _payable(s)) for s in states]
        ),
    )


def _payable(state: service.BillState) -> bool:
    """Something is left to pay on it, and not as part of a later bill (pay that one)."""
    return state.to_pay > 0 and state.carried_to is None


@router.callback_query(BillsCb.filter(F.action == BillAction.LIST), ANY_STATE, HasAccount())
async def back_to_list(
    query: CallbackQuery,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
) -> None:
    if isinstance(query.message, Message):
        await _send_list(query.message, session, viewer, settings, clock)


@router.callback_query(BillsCb.filter(F.action == BillAction.DETAIL), ANY_STATE, HasAccount())
async def show_bill(
    query: CallbackQuery,
    callback_data: BillsCb,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    assert viewer.account is not None
    try:
        detail = await service.bill_detail(session, viewer.account.id, callback_data.charge_id)
    except service.BillNotFound:
        callback_answer.text = texts.BILL_GONE
        return
    if isinstance(query.message, Message):
        await query.message.answer(
            texts.bill_detail(detail.state, detail.account_number, detail.address,
                              detail.lines, settings.reading_window_days, clock.today()),
            reply_markup=kb.bill(detail.state.charge_id, payable=_payable(detail.state)),
        )  # fmt: skip


@router.callback_query(BillsCb.filter(F.action == BillAction.PDF), ANY_STATE, HasAccount())
async def send_receipt(
    query: CallbackQuery,
    callback_data: BillsCb,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    bot: Bot,
    clock: Clock,
    receipts_cache: receipts.ReceiptCache,
    callback_answer: CallbackAnswer,
) -> None:
    assert viewer.account is not None
    account_id, charge_id = viewer.account.id, callback_data.charge_id
    supplier = settings.supplier()
    try:
        if supplier is None:
            await service.bill_detail(session, account_id, charge_id)
            data = None
        else:
            data = await receipts.receipt_data(session, account_id, charge_id, supplier)
    except service.BillNotFound:
        callback_answer.text = texts.BILL_GONE
        return
    if query.message is None:
        return
    chat_id = query.message.chat.id
    if data is None:
        await bot.send_message(chat_id, texts.PDF_UNAVAILABLE)
        return
    callback_answer.disable()
    await query.answer(texts.PDF_WAIT)
    text = texts.receipt_text(data)
    version = receipts.version_of(text)
    async with receipts_cache.lock(data.charge_id, version):
        cached = receipts_cache.get(data.charge_id, version)
        caption = texts.pdf_caption(data.period, data.to_pay, data.due_date, clock.today())
        if cached is not None and cached[1] is not None:
            await bot.send_document(chat_id, cached[1], caption=caption)
            return
        if cached is not None:
            receipt = cached[0]
        else:
            await bot.send_chat_action(chat_id, "upload_document")
            receipt = await receipts.render_receipt(data, texts.receipt_text)
        sent = await bot.send_document(
            chat_id, BufferedInputFile(receipt.data, filename=receipt.filename), caption=caption
        )
        receipts_cache.put(
            receipt, data.charge_id, sent.document.file_id if sent.document else None
        )
