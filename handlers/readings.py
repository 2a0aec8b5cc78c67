"""«🔢 Показания»: the meters of the current account, the ReadingEntry dialog and the history."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import date
from decimal import Decimal
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.downloads import NoFileInMessage, download, file_of
from bot.filters import HasAccount
from bot.settings import Settings
from bot.texts import common as common_texts
from bot.texts import readings as texts
from keyboards import appeals as appeal_kb
from keyboards import common as common_kb
from keyboards import readings as kb
from keyboards.readings import ConfirmReadingsCb, ReadingAction, ReadingsCb
from models import AppealTopic
from services import charts
from services import readings as service
from services.files import FileTooLarge, UnsupportedFileType, UploadQuotaExceeded
from services.identity import Viewer

router = Router(name="readings")

ANY_STATE = StateFilter("*")
MESSAGE_LIMIT = 3800
METERS_TOPIC = AppealTopic.METERS


class ReadingEntry(StatesGroup):
    value = State()  # typing the value of data["zone"]
    confirm_split = State()  # several zones typed in one message: «Правильно ли я понял?»
    confirm_value = State()  # rollover or unusual consumption: «Вы уверены?»
    photo = State()  # optional photo of the meter
    confirm = State()  # the summary with «Подтвердить»


def _account_id(viewer: Viewer | None) -> int:
    assert viewer is not None and viewer.account is not None  # guaranteed by HasAccount()
    return viewer.account.id


# --- the meters overview -----------------------------------------------------------------------


@router.message(F.text == common_texts.MENU_READINGS, ANY_STATE, HasAccount())
async def show_meters(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
) -> None:
    await state.clear()
    await _show_overview(message, session, viewer, settings, clock)


async def _show_overview(
    message: Message, session: AsyncSession, viewer: Viewer, settings: Settings, clock: Clock
) -> None:
    assert viewer.account is not None
    today = clock.today()
    overview = await service.meters_overview(session, viewer.account.id, today)
    choice = service.period_for(today, settings.reading_window_days)
    lines = [
        texts.SECTION_TITLE,
        texts.account_header(viewer.account.number, viewer.account.address),
        "",
    ]
    if not overview:
        await message.answer(
            "\n".join([*lines, texts.NO_METERS]), reply_markup=appeal_kb.new_appeal(METERS_TOPIC)
        )
        return
    for meter in overview:
        lines.append(texts.meter_title(meter.serial_number, meter.zones, meter.digits))
        lines.append(texts.LAST_ACCEPTED)
        for zone in range(1, meter.zones + 1):
            last = meter.last.get(zone)
            lines.append(
                texts.last_reading_line(meter.zones, zone, last.value, last.taken_on)
                if last
                else texts.no_reading_line(meter.zones, zone)
            )
        if meter.verification_expired and meter.verified_until is not None:
            lines.append(texts.verification_expired(meter.verified_until))
        lines.append("")
    lines += [
        texts.window_note(choice.first_day, choice.last_day, choice.position, choice.period),
        texts.CHOOSE_METER,
    ]
    markup = kb.meters([(m.id, m.serial_number) for m in overview])
    if any(m.verification_expired for m in overview):  # the act of verification goes to staff
        markup = appeal_kb.with_new_appeal(markup, METERS_TOPIC)
    await message.answer("\n".join(lines), reply_markup=markup)


# --- ReadingEntry ------------------------------------------------------------------------------


@router.callback_query(ReadingsCb.filter(F.action == ReadingAction.ENTER), ANY_STATE, HasAccount())
async def start_entry(
    query: CallbackQuery,
    callback_data: ReadingsCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    today = clock.today()
    try:
        meter = await service.get_meter(session, _account_id(viewer), callback_data.meter_id)
    except service.MeterNotFound:
        callback_answer.text = texts.METER_GONE
        return
    choice = service.period_for(today, settings.reading_window_days)
    await state.clear()
    await state.set_state(ReadingEntry.value)
    await state.set_data(
        {
            "meter_id": meter.id,
            "serial": meter.serial_number,
            "scheme": meter.zones,
            "digits": meter.digits,
            "period": choice.period.isoformat(),
            "zone": 1,
            "values": {},
            "photo_id": None,
        }
    )
    if not isinstance(query.message, Message):
        return
    notes = [texts.window_note(choice.first_day, choice.last_day, choice.position, choice.period)]
    if service.verification_expired(meter, today) and meter.verified_until is not None:
        notes.append(texts.verification_expired(meter.verified_until))
    await _ask_value(query.message, session, await state.get_data(), notes=notes)


async def _ask_value(
    message: Message,
    session: AsyncSession,
    data: dict[str, Any],
    reason: str | None = None,
    notes: list[str] | None = None,
) -> None:
    """The question for data["zone"], after the reason of a refusal or the notes of the meter."""
    period = date.fromisoformat(data["period"])
    zone = data["zone"]
    context = await service.zone_context(session, data["meter_id"], zone, period)
    question = texts.ask_value(
        data["serial"], data["scheme"], zone, data["digits"], context.previous, period, context.sent
    )
    parts = [*(notes or []), *([reason] if reason else []), question]
    await message.answer("\n\n".join(parts), reply_markup=common_kb.back_cancel())


def _reason(error: service.ReadingError) -> str:
    if isinstance(error, service.TooManyDecimals):
        return texts.TOO_MANY_DECIMALS
    if isinstance(error, service.TooManyDigits):
        return texts.too_many_digits(error.digits)
    if isinstance(error, service.ReadingTooLow):
        return texts.too_low(error.previous, error.taken_on)
    return texts.NOT_A_NUMBER


@router.message(ReadingEntry.value, F.text == common_texts.BTN_BACK, HasAccount())
async def value_back(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
) -> None:
    """«« Назад» from a zone: the previous zone, or from the first one the list of meters."""
    data = await state.get_data()
    if data["zone"] <= 1:
        await state.clear()
        await message.answer(texts.BACK_TO_METERS, reply_markup=common_kb.main_menu())
        await _show_overview(message, session, viewer, settings, clock)
        return
    await _retype_zone(message, state, session, data["zone"] - 1)


@router.message(
    StateFilter(
        ReadingEntry.confirm_split,
        ReadingEntry.confirm_value,
        ReadingEntry.photo,
        ReadingEntry.confirm,
    ),
    F.text == common_texts.BTN_BACK,
)
async def later_step_back(
    message: Message, state: FSMContext, session: AsyncSession, bot: Bot
) -> None:
    """«« Назад» after the values: type the last zone (or the one in question) again."""
    await _drop_keyboard(message, state, bot)
    data = await state.get_data()
    await _retype_zone(message, state, session, min(data["zone"], data["scheme"]))


async def _retype_zone(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    zone: int,
    reason: str | None = None,
) -> None:
    """Back to typing `zone`: its value and the later zones' are typed again."""
    data = await state.get_data()
    values = {key: value for key, value in data["values"].items() if int(key) < zone}
    await state.update_data(values=values, zone=zone, pending=None, key=None, queue=[])
    await state.set_state(ReadingEntry.value)
    await _ask_value(message, session, await state.get_data(), reason)


@router.message(
    StateFilter(ReadingEntry.value, ReadingEntry.confirm_value, ReadingEntry.confirm_split),
    F.text,
    ~F.text.in_(common_texts.MENU_SECTIONS),
    HasAccount(),
)
async def take_value(
    message: Message, state: FSMContext, session: AsyncSession, viewer: Viewer, bot: Bot
) -> None:
    await _drop_keyboard(message, state, bot)
    await state.update_data(queue=[], split=None)
    data = await state.get_data()
    parts = service.split_values(message.text or "")
    if len(parts) > 1:
        await _offer_split(message, state, session, data, parts)
        return
    await _take(message, state, session, viewer, bot, message.text or "")


async def _take(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    bot: Bot,
    text: str,
) -> None:
    """Check `text` as the value of data["zone"]: re-ask with the reason, ask «Вы уверены?»,
    or take it and go on."""
    data = await state.get_data()
    period = date.fromisoformat(data["period"])
    try:
        check = await service.check_value(
            session, _account_id(viewer), data["meter_id"], data["zone"], text, period
        )
    except service.MeterNotFound:
        await state.clear()
        await message.answer(texts.METER_GONE, reply_markup=common_kb.main_menu())
        return
    except service.ReadingError as error:
        await state.update_data(queue=[])
        await state.set_state(ReadingEntry.value)
        await _ask_value(message, session, await state.get_data(), _reason(error))
        return
    if check.warnings:
        await state.update_data(pending=str(check.value))
        await state.set_state(ReadingEntry.confirm_value)
        notes = []
        if data["scheme"] > 1:  # which zone's value is in question
            notes.append(texts.zone_in_question(data["scheme"], data["zone"]))
        if service.Caution.ROLLOVER in check.warnings and check.previous is not None:
            assert check.consumption is not None
            notes.append(
                texts.rollover(check.previous, check.value, check.consumption, data["digits"])
            )
        if service.Caution.UNUSUAL in check.warnings and check.average is not None:
            assert check.consumption is not None
            notes.append(texts.unusual(check.consumption, check.average))
        await _with_keyboard(message, state, "\n\n".join(notes), kb.confirm_warning())
        return
    await _accept_value(message, state, session, viewer, bot, check.value)


async def _offer_split(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    data: dict[str, Any],
    parts: list[str],
) -> None:
    """Several numbers in one message: as many as the zones left are read zone by zone, shown
    back and confirmed; a wrong count or a malformed number re-asks the zone."""
    scheme, zone = data["scheme"], data["zone"]
    zones = list(range(zone, scheme + 1))
    if len(parts) != len(zones):
        await state.set_state(ReadingEntry.value)
        await _ask_value(message, session, data, texts.wrong_count(len(parts), len(zones)))
        return
    values: list[Decimal] = []
    for part_zone, part in zip(zones, parts, strict=True):
        try:
            values.append(service.parse_reading(part, data["digits"]))
        except service.ReadingError as error:
            await state.set_state(ReadingEntry.value)
            reason = texts.in_zone(scheme, part_zone, part, _reason(error))
            await _ask_value(message, session, data, reason)
            return
    await state.update_data(split=[str(value) for value in values])
    await state.set_state(ReadingEntry.confirm_split)
    question = texts.split_question(scheme, list(zip(zones, values, strict=True)))
    await _with_keyboard(message, state, question, kb.confirm_split())


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.SPLIT_YES), ReadingEntry.confirm_split, HasAccount()
)
async def split_accepted(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, viewer: Viewer, bot: Bot
) -> None:
    """The values are checked zone by zone as if typed one by one (a warning still asks)."""
    data = await state.get_data()
    if not isinstance(query.message, Message) or not data.get("split"):
        return
    first, *rest = data["split"]
    await state.update_data(split=None, queue=rest)
    await state.set_state(ReadingEntry.value)
    await _pressed(query.message, state, bot)
    await _take(query.message, state, session, viewer, bot, first)


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.SPLIT_NO), ReadingEntry.confirm_split, HasAccount()
)
async def split_declined(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, bot: Bot
) -> None:
    await _back_to_value(query, state, session, bot, split=None)


async def _back_to_value(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, bot: Bot, **cleared: None
) -> None:
    """«Нет» to a question about the typed value: the question goes and the value is asked
    again, with what was typed ahead (`queue`) and the question's own field dropped."""
    await state.update_data(**cleared, queue=[])
    await state.set_state(ReadingEntry.value)
    if isinstance(query.message, Message):
        await _pressed(query.message, state, bot)
        await _ask_value(query.message, session, await state.get_data())


@router.message(ReadingEntry.value, F.photo | F.document, HasAccount())
async def photo_with_value(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    bot: Bot,
) -> None:
    """A photo of the meter sent before the value: kept for this reading; the value is still
    asked (the bot does not read digits off a photo)."""
    data = await state.get_data()
    photo_id, problem = await _store_photo(message, session, viewer, settings, bot)
    if photo_id is None:
        await _ask_value(message, session, data, problem)
        return
    await state.update_data(photo_id=photo_id)
    await _ask_value(message, session, await state.get_data(), notes=[texts.PHOTO_SAVED_EARLY])


@router.message(ReadingEntry.value, ~F.text)
async def value_not_text(message: Message, state: FSMContext, session: AsyncSession) -> None:
    await _ask_value(message, session, await state.get_data(), texts.NOT_A_NUMBER)


async def _accept_value(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    bot: Bot,
    value: Decimal,
) -> None:
    data = await state.get_data()
    values = dict(data["values"])
    values[str(data["zone"])] = str(value)
    if data["zone"] < data["scheme"]:
        queue = list(data.get("queue") or [])
        await state.update_data(values=values, zone=data["zone"] + 1, pending=None, queue=queue[1:])
        await state.set_state(ReadingEntry.value)
        if queue:  # the next zone was typed in the same message
            await _take(message, state, session, viewer, bot, queue[0])
        else:
            await _ask_value(message, session, await state.get_data())
        return
    await state.update_data(values=values, pending=None, queue=[])
    if data.get("photo_id") is not None:
        await _show_summary(message, state, session, viewer)
        return
    await state.set_state(ReadingEntry.photo)
    await _with_keyboard(message, state, texts.ASK_PHOTO, kb.photo())


async def _with_keyboard(
    message: Message, state: FSMContext, text: str, markup: InlineKeyboardMarkup
) -> None:
    """A step answered by buttons; the message is remembered so that its buttons go away
    once the step is answered another way (a photo, a number typed instead of a press)."""
    sent = await message.answer(text, reply_markup=markup)
    await state.update_data(buttons_at=sent.message_id)


async def _pressed(message: Message, state: FSMContext, bot: Bot) -> None:
    """A button of `message` was pressed: its buttons go, and those of the remembered step."""
    data = await state.get_data()
    if data.get("buttons_at") != message.message_id:
        with suppress(TelegramBadRequest):  # a double press: the first one removed them
            await message.edit_reply_markup(reply_markup=None)
    await _drop_keyboard(message, state, bot)


async def _drop_keyboard(message: Message, state: FSMContext, bot: Bot) -> None:
    """Remove the buttons of the step remembered by `_with_keyboard`, if it still has them."""
    data = await state.get_data()
    message_id = data.get("buttons_at")
    if message_id is None:
        return
    with suppress(TelegramBadRequest):  # already gone: pressed, or the chat was cleared
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message_id, reply_markup=None
        )
    # After the edit, so that this goes with the step's next write (bot.fsm_storage): an edit
    # repeated after a restart in between changes nothing.
    await state.update_data(buttons_at=None)


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.YES), ReadingEntry.confirm_value, HasAccount()
)
async def warning_accepted(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, viewer: Viewer, bot: Bot
) -> None:
    data = await state.get_data()
    if not isinstance(query.message, Message) or not data.get("pending"):
        return
    await _pressed(query.message, state, bot)
    await _accept_value(query.message, state, session, viewer, bot, Decimal(data["pending"]))


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.NO), ReadingEntry.confirm_value, HasAccount()
)
async def warning_declined(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, bot: Bot
) -> None:
    await _back_to_value(query, state, session, bot, pending=None)


@router.message(ReadingEntry.photo, F.photo | F.document, HasAccount())
async def take_photo(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    bot: Bot,
) -> None:
    photo_id, problem = await _store_photo(message, session, viewer, settings, bot)
    if photo_id is None:
        await _drop_keyboard(message, state, bot)
        await _with_keyboard(message, state, problem, kb.photo())
        return
    await _drop_keyboard(message, state, bot)
    await state.update_data(photo_id=photo_id)
    await message.answer(texts.PHOTO_SAVED)
    await _show_summary(message, state, session, viewer)


async def _store_photo(
    message: Message, session: AsyncSession, viewer: Viewer, settings: Settings, bot: Bot
) -> tuple[int | None, str]:
    """(the stored photo's id, "") or (None, why it was not taken)."""
    try:
        file_id, unique_id, size, _ = file_of(message)
        data = await download(bot, file_id, size, settings.max_upload_mb)
        photo_id = await service.store_photo(
            session,
            settings.upload_dir,
            data,
            limit_mb=settings.max_upload_mb,
            telegram_file_id=file_id,
            telegram_file_unique_id=unique_id,
            login_id=viewer.login_id,
            quota=settings.upload_quota,
        )
    except FileTooLarge as error:
        return None, texts.photo_too_big(error.limit_mb)
    except UploadQuotaExceeded as error:
        return None, texts.photo_quota_exceeded(error.quota.files, error.quota.megabytes)
    except (UnsupportedFileType, NoFileInMessage):
        return None, texts.PHOTO_UNSUPPORTED
    return photo_id, ""


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.NO_PHOTO), ReadingEntry.photo, HasAccount()
)
async def skip_photo(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, viewer: Viewer, bot: Bot
) -> None:
    if isinstance(query.message, Message):
        await _pressed(query.message, state, bot)
        await _show_summary(query.message, state, session, viewer)


@router.message(ReadingEntry.photo, ~F.text.in_(common_texts.MENU_SECTIONS))
async def photo_expected(message: Message, state: FSMContext, bot: Bot) -> None:
    await _drop_keyboard(message, state, bot)
    await _with_keyboard(message, state, texts.PHOTO_EXPECTED, kb.photo())


async def _show_summary(
    message: Message, state: FSMContext, session: AsyncSession, viewer: Viewer
) -> None:
    data = await state.get_data()
    values = {int(zone): Decimal(value) for zone, value in data["values"].items()}
    period = date.fromisoformat(data["period"])
    try:
        summary = await service.summarize(
            session, _account_id(viewer), data["meter_id"], values, period
        )
    except service.MeterNotFound:
        await state.clear()
        await message.answer(texts.METER_GONE, reply_markup=common_kb.main_menu())
        return
    key = uuid.uuid4().hex  # generated once per summary: both presses of «Подтвердить» share it
    await state.update_data(key=key)
    await state.set_state(ReadingEntry.confirm)
    text = texts.summary(
        summary.serial_number,
        summary.zones,
        summary.period,
        [
            (ln.zone, ln.value, ln.consumption, ln.price, ln.rollover, ln.cost)
            for ln in summary.lines
        ],
        summary.total_cost,
        data.get("photo_id") is not None,
    )
    await message.answer(text, reply_markup=kb.summary(key))


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.RETYPE), ReadingEntry.confirm, HasAccount()
)
async def retype(query: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    await state.update_data(values={}, zone=1, key=None)
    await state.set_state(ReadingEntry.value)
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await _ask_value(query.message, session, await state.get_data(), notes=[texts.RETYPE_START])


@router.callback_query(ConfirmReadingsCb.filter(), ANY_STATE, HasAccount())
async def confirm(
    query: CallbackQuery,
    callback_data: ConfirmReadingsCb,
    state: FSMContext,
    session: AsyncSession,
    viewer: Viewer,
    settings: Settings,
    clock: Clock,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    current = await state.get_state()
    if current != ReadingEntry.confirm.state or data.get("key") != callback_data.key:
        done = await service.find_submission(session, callback_data.key)
        callback_answer.text = (
            texts.already_accepted(done.reference) if done else texts.DIALOG_EXPIRED
        )
        return
    period = date.fromisoformat(data["period"])
    now_counts_for = service.period_for(clock.today(), settings.reading_window_days).period
    if now_counts_for != period and isinstance(query.message, Message):
        # The dialog outlived the window (or a restart resumed it later): confirm the new period.
        await query.message.edit_reply_markup(reply_markup=None)
        await state.update_data(period=now_counts_for.isoformat())
        await query.message.answer(texts.period_changed(period, now_counts_for))
        await _show_summary(query.message, state, session, viewer)
        return
    values = {int(zone): Decimal(value) for zone, value in data["values"].items()}
    try:
        result = await service.submit(
            session,
            account_id=_account_id(viewer),
            meter_id=data["meter_id"],
            values=values,
            period=period,
            idempotency_key=callback_data.key,
            today=clock.today(),
            now=clock.now(),
            login_id=viewer.login_id,
            telegram_user_id=viewer.telegram_user_id,
            photo_file_id=data.get("photo_id"),
        )
    except service.SubmissionConflict:
        callback_answer.text = texts.SUBMISSION_CONFLICT
        callback_answer.show_alert = True
        return
    except service.ReadingTooLow as error:
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
            await _retype_zone(query.message, state, session, error.zone, _reason(error))
        return
    except (service.MeterNotFound, service.ReadingError):
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.answer(texts.METER_GONE, reply_markup=common_kb.main_menu())
        return
    if result.duplicate:
        callback_answer.text = texts.already_accepted(result.reference)
        return
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            texts.accepted(result.reference, result.period, result.replaced),
            reply_markup=common_kb.main_menu(),
        )


# --- history -----------------------------------------------------------------------------------


@router.callback_query(
    ReadingsCb.filter(F.action == ReadingAction.HISTORY), ANY_STATE, HasAccount()
)
async def show_history(
    query: CallbackQuery,
    session: AsyncSession,
    viewer: Viewer,
    clock: Clock,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    callback_answer.disable()
    await query.answer(texts.HISTORY_WAIT)
    if query.message is None:
        return
    chat_id = query.message.chat.id
    assert viewer.account is not None
    histories = await service.history(session, viewer.account.id, clock.today())
    header = [
        texts.HISTORY_TITLE,
        texts.account_header(viewer.account.number, viewer.account.address),
    ]
    if not histories:
        await bot.send_message(chat_id, "\n".join([*header, "", texts.HISTORY_NO_METERS]))
        return
    panels = []
    for index, meter in enumerate(histories):
        lines = [*(header if index == 0 else []), "",
                 texts.history_meter_title(meter.serial_number, meter.zones)]  # fmt: skip
        if not meter.entries:
            lines.append(texts.HISTORY_EMPTY)
        for entry in meter.entries:
            lines.append(
                texts.history_line(
                    meter.zones, entry.period, entry.zone, entry.value, entry.consumption,
                    entry.status, entry.source, entry.reject_reason, entry.replaced,
                    entry.reference,
                )
            )  # fmt: skip
        for chunk in _chunks(lines):
            await bot.send_message(chat_id, chunk)
        if meter.periods:
            panels.append(_panel(meter))
    if panels:
        labels = charts.ChartLabels(texts.CHART_Y, texts.CHART_ESTIMATED, texts.CHART_GAP)
        png = await charts.consumption_png(panels, labels)
        await bot.send_photo(
            chat_id,
            BufferedInputFile(png, filename="readings-history.png"),
            caption=texts.CHART_CAPTION,
        )


def _panel(meter: service.MeterHistory) -> charts.ChartPanel:
    months = service.chart_months(meter)
    series = [
        charts.BarSeries(
            texts.chart_series_name(meter.zones, zone),
            [float(m.consumption[zone]) if zone in m.consumption else None for m in months],
        )
        for zone in range(1, meter.zones + 1)
    ]
    return charts.ChartPanel(
        texts.chart_title(meter.serial_number),
        [texts.chart_month(m.period) for m in months],
        series,
        [m.estimated for m in months],
        [m.gap for m in months],
        [
            texts.CHART_GAP if m.gap else texts.chart_span(m.months) if m.months > 1 else ""
            for m in months
        ],
    )


def _chunks(lines: list[str]) -> list[str]:
    """Join lines into messages under Telegram's 4096-character limit."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > MESSAGE_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks
