"""«🔢 Показания» as a subscriber meets it: entry per zone, validation, window, history, chart."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from bot.texts import common as common_texts
from bot.texts import fmt
from bot.texts import readings as texts
from models import (
    Account,
    AccountLink,
    Login,
    Meter,
    Reading,
    ReadingSource,
    ReadingStatus,
    ReadingSubmission,
    StoredFile,
)
from services.demo import DEMO_EMAIL
from tests.e2e.conftest import Cabinet
from tests.helpers import eventually

NOVEMBER = date(2026, 11, 1)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 200
# Drawing the chart with matplotlib takes about 2 s of CPU when coverage traces it (under 1 s
# without): on a busy CI machine that is more than the default 5 s.
CHART_TIMEOUT = 20


# --- arrangement -------------------------------------------------------------------------------


async def subscriber(cabinet: Cabinet, account_index: int = 0, user_id: int = 1001) -> Any:
    """A logged-in demo subscriber whose current account is the demo account `account_index`."""
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(user_id)
    if account_index:
        async with cabinet.sessions() as session:
            account_id = (await session.scalars(select(Account.id).order_by(Account.id))).all()[
                account_index
            ]
            await session.execute(
                update(AccountLink).where(AccountLink.login_id == login_id).values(is_current=False)
            )
            session.add(AccountLink(login_id=login_id, account_id=account_id, is_current=True))
            await session.commit()
    return cabinet.user(user_id)


async def meters_of_current_account(cabinet: Cabinet) -> list[Meter]:
    async with cabinet.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Meter)
                    .join(AccountLink, AccountLink.account_id == Meter.account_id)
                    .join(Login, Login.id == AccountLink.login_id)
                    .where(Login.email == DEMO_EMAIL, AccountLink.is_current.is_(True))
                    .order_by(Meter.id)
                )
            ).all()
        )


async def last_value(cabinet: Cabinet, meter: Meter, zone: int = 1) -> Decimal:
    async with cabinet.sessions() as session:
        value = await session.scalar(
            select(Reading.value)
            .where(Reading.meter_id == meter.id, Reading.zone == zone,
                   Reading.status == ReadingStatus.ACCEPTED, Reading.replaced_by_id.is_(None),
                   Reading.period < NOVEMBER)
            .order_by(Reading.period.desc())
            .limit(1)
        )  # fmt: skip
    assert value is not None
    return Decimal(value)


async def readings_of(cabinet: Cabinet, meter: Meter, period: date = NOVEMBER) -> list[Reading]:
    async with cabinet.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(Reading)
                    .where(Reading.meter_id == meter.id, Reading.period == period)
                    .order_by(Reading.id)
                )
            ).all()
        )


async def open_entry(user: Any, meter: Meter) -> None:
    await user.send(common_texts.MENU_READINGS)
    await user.expect(texts.CHOOSE_METER)
    await user.press(texts.BTN_ENTER.format(serial=meter.serial_number))
    await user.expect("Введите показание")


def num(value: Decimal | str) -> str:
    return fmt.number(Decimal(value))


# --- the section ------------------------------------------------------------------------------


async def test_section_lists_every_meter_with_its_last_accepted_reading(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meters = await meters_of_current_account(cabinet)
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    assert "Лицевой счёт № 74" in overview.text
    for meter in meters:
        assert f"Счётчик № {meter.serial_number} — однотарифный" in overview.text
        assert f"Показание: {num(await last_value(cabinet, meter))} от " in overview.text
    assert "с 15 по 25 число" in overview.text and "за ноябрь 2026" in overview.text
    assert overview.inline_buttons == [
        *[[texts.BTN_ENTER.format(serial=m.serial_number)] for m in meters],
        [texts.BTN_HISTORY],
    ]


async def test_expired_verification_is_flagged_with_what_to_do(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, account_index=5)
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    assert "Срок поверки счётчика истёк" in overview.text
    assert "акт поверки" in overview.text
    [meter] = await meters_of_current_account(cabinet)
    await user.press(texts.BTN_ENTER.format(serial=meter.serial_number))
    await user.expect("Срок поверки счётчика истёк")


# --- entry -------------------------------------------------------------------------------------


async def test_single_zone_entry_with_summary_cost_and_reference(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(f"{previous + Decimal('150.5')}".replace(".", ","))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert f"Показание: {num(previous + Decimal('150.5'))}, расход 150,50 кВт·ч" in summary.text
    # Single-zone tariff from July 2026 is 5,60 ₽ per kWh: 150,5 × 5,6 = 842,80 ₽.
    assert fmt.money(Decimal("842.80")) in summary.text
    assert "без фото" in summary.text
    await user.press(texts.BTN_CONFIRM)
    done = await user.expect("Показания приняты")
    assert "за ноябрь 2026" in done.text and "П-2026-" in done.text
    assert done.reply_keyboard is not None and common_texts.MENU_READINGS in done.reply_keyboard[1]
    [stored] = await readings_of(cabinet, meter)
    assert stored.value == previous + Decimal("150.5")
    assert stored.source == ReadingSource.SUBSCRIBER and stored.status == ReadingStatus.ACCEPTED


async def test_three_zone_entry_asks_each_zone(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, account_index=17)
    [meter] = await meters_of_current_account(cabinet)
    assert meter.zones == 3
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    for label in ("Т1 пик", "Т2 ночь", "Т3 полупик"):  # Cyrillic «Т»
        assert label in overview.text
    await user.press(texts.BTN_ENTER.format(serial=meter.serial_number))
    typed = []
    for zone, name in enumerate(("Т1 (пик)", "Т2 (ночь)", "Т3 (полупик)"), start=1):
        await user.expect(f"Введите показание по зоне {name}")
        value = await last_value(cabinet, meter, zone) + 10 * zone
        typed.append(value)
        await user.send(str(value))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert "Т1 пик: " in summary.text and "расход 10,00 кВт·ч" in summary.text
    assert "Т2 ночь: " in summary.text and "расход 20,00 кВт·ч" in summary.text
    assert "Т3 полупик: " in summary.text and "расход 30,00 кВт·ч" in summary.text
    # 10 × 7,42 + 20 × 3,51 + 30 × 5,60 = 74,20 + 70,20 + 168,00
    assert fmt.money(Decimal("312.40")) in summary.text
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    stored = await readings_of(cabinet, meter)
    assert [(r.zone, r.value) for r in stored] == list(enumerate(typed, start=1))


async def test_each_validation_message_re_asks_the_same_zone(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    cases = [
        ("двенадцать", "Это не похоже на показание"),
        ("123,456", "не больше двух цифр"),
        ("1" * (meter.digits + 1), f"У этого счётчика {meter.digits} разряд"),
        (str(previous - 1), f"не может быть меньше предыдущего принятого ({num(previous)}"),
        ("9870; 13200", "В сообщении 2 числа, а нужно одно показание"),
    ]
    for typed, reason in cases:
        await user.send(typed)
        reply = await user.expect(reason)
        assert "Введите показание" in reply.text
    await user.send_sticker()
    await user.expect("Это не похоже на показание")
    await user.send(str(previous + 5))
    await user.expect(texts.ASK_PHOTO)
    assert await readings_of(cabinet, meter) == []


async def test_unusual_consumption_asks_are_you_sure(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(str(previous + 5000))
    question = await user.expect("Вы уверены?")
    assert "более чем в три раза превышает ваш обычный" in question.text
    await user.press(texts.BTN_NO_RETYPE)
    await user.expect("Введите показание")
    await user.send(str(previous + 5000))
    await user.expect("Вы уверены?")
    await user.press(texts.BTN_YES_RIGHT)
    await user.expect(texts.ASK_PHOTO)


async def test_rollover_is_explained_and_confirmed(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    top = Decimal(10) ** meter.digits
    async with cabinet.sessions() as session:  # the counter is close to its end
        await session.execute(
            update(Reading)
            .where(Reading.meter_id == meter.id, Reading.period == date(2026, 10, 1))
            .values(value=top - 40, status=ReadingStatus.ACCEPTED)
        )
        await session.commit()
    await open_entry(user, meter)
    await user.send("25")
    question = await user.expect("начал счёт с нуля")
    assert "расход составит 65,00 кВт·ч" in question.text
    await user.press(texts.BTN_YES_RIGHT)
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert "расход 65,00 кВт·ч (счётчик прошёл через ноль)" in summary.text
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    assert [r.value for r in await readings_of(cabinet, meter)] == [Decimal(25)]


# --- the reading window ----------------------------------------------------------------------


async def _window_note(cabinet: Cabinet, user: Any, at: datetime) -> str:
    cabinet.clock.set(at)
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    return str(overview.text)


async def test_window_edges_in_the_suppliers_time_zone(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    before = await _window_note(cabinet, user, datetime(2026, 11, 14, 23, 59))
    assert "Приём ещё не начался" in before and "за ноябрь 2026" in before
    first = await _window_note(cabinet, user, datetime(2026, 11, 15, 0, 0))
    assert "Сейчас они будут учтены за ноябрь 2026" in first
    last = await _window_note(cabinet, user, datetime(2026, 11, 25, 23, 59))
    assert "Сейчас они будут учтены за ноябрь 2026" in last
    # 21:30 UTC on the 25th is already 00:30 on the 26th in Moscow.
    after = await _window_note(cabinet, user, datetime(2026, 11, 25, 21, 30, tzinfo=UTC))
    assert "Приём за этот месяц закончился" in after and "за декабрь 2026" in after


async def test_after_the_window_readings_count_for_next_month(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    cabinet.clock.set(datetime(2026, 11, 27, 10, 0))
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(str(previous + 100))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    await user.expect("за декабрь 2026")
    await user.press(texts.BTN_CONFIRM)
    done = await user.expect("Показания приняты")
    assert "за декабрь 2026" in done.text
    [stored] = await readings_of(cabinet, meter, date(2026, 12, 1))
    assert stored.taken_on == date(2026, 11, 27)


@pytest.mark.settings(reading_window="1-10")
async def test_the_window_comes_from_the_settings(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    note = await _window_note(cabinet, user, datetime(2026, 11, 20, 12, 0))
    assert "с 1 по 10 число" in note and "за декабрь 2026" in note


# --- replacement, duplicates, photo ------------------------------------------------------------


async def _enter(user: Any, value: Decimal) -> Any:
    await user.send(str(value))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    return await user.expect("Проверьте показания")


async def test_a_second_submission_replaces_the_first_and_history_keeps_both(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await _enter(user, previous + 100)
    await user.press(texts.BTN_CONFIRM)
    first = await user.expect("Показания приняты")
    await open_entry(user, meter)
    await _enter(user, previous + 120)
    await user.press(texts.BTN_CONFIRM)
    second = await user.expect("заменили показания, переданные ранее")
    assert (
        first.text.split("Номер подтверждения: ")[1]
        != second.text.split("Номер подтверждения: ")[1]
    )
    old, new = await readings_of(cabinet, meter)
    assert (old.value, old.replaced_by_id) == (previous + 100, new.id)
    assert (new.value, new.replaced_by_id) == (previous + 120, None)
    await user.send(common_texts.MENU_READINGS)
    await user.expect(texts.CHOOSE_METER)
    await user.press(texts.BTN_HISTORY)
    history = await user.expect(f"Счётчик № {meter.serial_number}")
    assert (
        f"11.2026 Показание: {num(previous + 120)} — расход 120,00 кВт·ч — принято" in history.text
    )
    assert "(заменено)" in history.text


async def test_double_press_on_confirm_stores_the_reading_once(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    summary = await _enter(user, previous + 42)
    button = next(
        b for row in summary.inline_keyboard for b in row if b["text"] == texts.BTN_CONFIRM
    )
    await user.expect_callback_answer()  # «Без фото» is answered
    answered_before = len(cabinet.emu.calls_to("answerCallbackQuery"))
    await user.press_button(summary, button)
    await user.press_button(summary, button)  # the same message, before the bot answered
    await user.expect("Показания приняты")

    async def already_accepted_answered() -> bool:
        calls = cabinet.emu.calls_to("answerCallbackQuery")[answered_before:]
        return any("уже приняты" in str(c.params.get("text") or "") for c in calls)

    # Whichever press the bot took second, it answered that the reading is already accepted.
    await eventually(already_accepted_answered)
    await user.press_button(summary, button)  # and once more, much later
    late = await user.expect_callback_answer()
    assert late.text is not None and "уже приняты" in late.text
    assert [r.value for r in await readings_of(cabinet, meter)] == [previous + 42]
    async with cabinet.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReadingSubmission)) == 1
    assert sum("Показания приняты" in m.content_text for m in user.bot_messages) == 1


async def test_photo_of_the_meter_is_stored_with_the_reading(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(str(previous + 10))
    first_prompt = await user.expect(texts.ASK_PHOTO)
    assert first_prompt.inline_buttons == [[texts.BTN_NO_PHOTO, texts.BTN_CANCEL]]
    await user.send("вот")
    second_prompt = await user.expect(texts.PHOTO_EXPECTED)
    assert first_prompt.inline_keyboard == []  # one «Без фото» at a time
    await user.send_photo(JPEG)
    await user.expect(texts.PHOTO_SAVED)
    summary = await user.expect("Проверьте показания")
    assert second_prompt.inline_keyboard == []  # the photo answered it: its buttons are gone
    assert "Фото счётчика: приложено" in summary.text
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    assert await photo_of_the_submission(cabinet) == JPEG


@pytest.mark.settings(max_upload_mb=1)
async def test_a_meter_photo_over_the_size_limit_is_refused_and_the_step_stays(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(str(previous + 10))
    await user.expect(texts.ASK_PHOTO)
    await user.send_photo(JPEG + b"0" * (1024 * 1024))
    await user.expect(texts.photo_too_big(1))
    await user.send_photo(JPEG)
    await user.expect(texts.PHOTO_SAVED)
    await user.expect("Проверьте показания")
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    assert await photo_of_the_submission(cabinet) == JPEG


@pytest.mark.settings(upload_files_per_day=1)
async def test_meter_photos_count_against_the_daily_upload_quota(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send_photo(JPEG)
    await user.expect(texts.PHOTO_SAVED_EARLY)  # the day's one file
    await user.send_photo(JPEG)
    refused = await user.expect("лимит исчерпан")
    assert "Введите показание" in refused.text  # the value is still asked
    await user.send(str(previous + 10))
    summary = await user.expect("Проверьте показания")  # the first photo is still attached
    assert "Фото счётчика: приложено" in summary.text


async def test_a_photo_sent_instead_of_the_value_is_the_meter_photo(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send_document(b"%PDF-1.4\n" + b"0" * 100, filename="meter.pdf")
    refused = await user.expect(texts.PHOTO_UNSUPPORTED)
    assert "Введите показание" in refused.text
    await user.send_photo(JPEG)
    kept = await user.expect(texts.PHOTO_SAVED_EARLY)
    assert "Введите показание" in kept.text  # the value is still asked
    await user.send(str(previous + 10))
    summary = await user.expect("Проверьте показания")  # no photo question: it came already
    assert "Фото счётчика: приложено" in summary.text
    assert not any(texts.ASK_PHOTO in m.content_text for m in user.bot_messages)
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    assert await photo_of_the_submission(cabinet) == JPEG


async def photo_of_the_submission(cabinet: Cabinet) -> bytes:
    """The bytes of the meter photo stored with the (only) submission, checked to be a JPEG."""
    async with cabinet.sessions() as session:
        submission = await session.scalar(select(ReadingSubmission))
        assert submission is not None and submission.photo_file_id is not None
        stored = await session.get(StoredFile, submission.photo_file_id)
        assert stored is not None and stored.mime_type == "image/jpeg"
    return (cabinet.settings.upload_dir / stored.storage_path).read_bytes()


async def test_two_zones_typed_in_one_message_fill_both_after_a_confirmation(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet, account_index=12)  # a two-zone meter first
    meter = (await meters_of_current_account(cabinet))[0]
    assert meter.zones == 2
    day, night = await last_value(cabinet, meter, 1) + 30, await last_value(cabinet, meter, 2) + 12
    await open_entry(user, meter)
    await user.send(f"{day} {night} 5")
    await user.expect("В сообщении 3 числа, а нужны показания 2 зон")
    await user.send(f"{day} {night}")
    question = await user.expect("Я понял их так")
    assert f"Т1 день: {num(day)}" in question.text
    assert f"Т2 ночь: {num(night)}" in question.text
    await user.press(texts.BTN_NO_RETYPE)
    await user.expect("Введите показание по зоне Т1 (день)")
    assert question.inline_keyboard == []
    # A value typed together with others is checked as if typed alone: «Вы уверены?» still asks.
    await user.send(f"{day} {night + 3000}")
    await user.expect("Я понял их так")
    await user.press(texts.BTN_YES_RIGHT)
    unusual = await user.expect("Вы уверены?")
    assert "Зона Т2 ночь." in unusual.text
    await user.press(texts.BTN_NO_RETYPE)
    await user.expect("Введите показание по зоне Т2 (ночь)")  # Т1 is kept
    await user.press(common_texts.BTN_BACK)
    await user.expect("Введите показание по зоне Т1 (день)")
    await user.send(f"{day};{night}".replace(".", ","))
    again = await user.expect("Я понял их так")
    await user.press(texts.BTN_YES_RIGHT)
    await user.expect(texts.ASK_PHOTO)  # both zones are in: no question about Т2
    assert again.inline_keyboard == []
    assert sum("Введите показание по зоне Т2" in m.content_text for m in user.bot_messages) == 1
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert "Т1 день: " in summary.text and "расход 30,00 кВт·ч" in summary.text
    assert "Т2 ночь: " in summary.text and "расход 12,00 кВт·ч" in summary.text
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    stored = await readings_of(cabinet, meter)
    assert [(r.zone, r.value) for r in stored] == [(1, day), (2, night)]


async def test_dialog_survives_a_restart(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await cabinet.restart()
    await user.send(str(previous + 7))
    await user.expect(texts.ASK_PHOTO)


async def test_cancel_leaves_the_dialog_without_saving(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    await open_entry(user, meter)
    await user.press(common_texts.BTN_CANCEL)
    await user.expect(common_texts.CANCELLED)
    assert await readings_of(cabinet, meter) == []


async def test_a_meter_of_another_account_is_refused(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    async with cabinet.sessions() as session:
        foreign = await session.scalar(select(Meter.id).order_by(Meter.id.desc()).limit(1))
    overview.reply_markup = {
        "inline_keyboard": [[{"text": "Чужой", "callback_data": f"rd:e:{foreign}"}]]
    }
    await user.press("Чужой", message=overview)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.METER_GONE


# --- history and chart -------------------------------------------------------------------------


async def test_history_text_and_chart_photo(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, account_index=12)  # a two-zone meter and a single-zone one
    meters = await meters_of_current_account(cabinet)
    async with cabinet.sessions() as session:  # billing estimated one month
        await session.execute(
            update(Reading)
            .where(Reading.meter_id == meters[0].id, Reading.period == date(2026, 9, 1))
            .values(status=ReadingStatus.ESTIMATED, source=ReadingSource.ESTIMATED)
        )
        await session.execute(
            update(Reading)
            .where(Reading.meter_id == meters[0].id, Reading.period == date(2026, 10, 1),
                   Reading.zone == 1)
            .values(status=ReadingStatus.REJECTED, reject_reason="цифры не видны на фото")
        )  # fmt: skip
        await session.commit()
    await user.send(common_texts.MENU_READINGS)
    await user.expect(texts.CHOOSE_METER)
    await user.press(texts.BTN_HISTORY)
    first = await user.expect(f"Счётчик № {meters[0].serial_number}")
    assert "09.2026 Т1 день: " in first.text
    assert "расчётное (начислено по среднему, не ваши показания)" in first.text
    assert "отклонено: цифры не видны на фото" in first.text
    assert "12.2025 Т2 ночь: " in first.text and "11.2025" in first.text
    await user.expect(f"Счётчик № {meters[1].serial_number}")
    chart = await user.expect(texts.CHART_CAPTION, timeout=CHART_TIMEOUT)
    assert chart.photo is not None
    with Image.open(io.BytesIO(chart.photo.data)) as image:  # one panel per meter, not blank
        assert image.format == "PNG"
        assert image.size == (900, 700)
        assert len(image.convert("RGB").getcolors(maxcolors=900 * 700) or []) > 50
    call = (await eventually(lambda: _async(cabinet.emu.calls_to("sendPhoto"))))[-1]
    assert call.chat_id == user.id


async def _async(value: Any) -> Any:
    return value


# --- back, second thoughts, stale state --------------------------------------------------------


async def test_back_walks_the_zones_then_returns_to_the_meters(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet, account_index=17)
    [meter] = await meters_of_current_account(cabinet)
    await open_entry(user, meter)
    question = await user.expect("по зоне Т1 (пик)")
    assert question.reply_keyboard == [[common_texts.BTN_BACK, common_texts.BTN_CANCEL]]
    t1 = await last_value(cabinet, meter, 1) + 10
    await user.send(str(t1))
    await user.expect("по зоне Т2 (ночь)")
    await user.press(common_texts.BTN_BACK)
    await user.expect("по зоне Т1 (пик)")
    for zone, next_question in ((1, "Т2 (ночь)"), (2, "Т3 (полупик)"), (3, texts.ASK_PHOTO)):
        await user.send(str(await last_value(cabinet, meter, zone) + zone))
        await user.expect(next_question)
    await user.press(common_texts.BTN_BACK)  # from the photo step: the last zone again
    await user.expect("по зоне Т3 (полупик)")
    await user.send(str(await last_value(cabinet, meter, 3) + 3))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert "расход 1,00 кВт·ч" in summary.text and "расход 3,00 кВт·ч" in summary.text
    await user.press(common_texts.BTN_BACK)  # from the summary: the last zone again
    await user.expect("по зоне Т3 (полупик)")
    await user.press(common_texts.BTN_BACK)
    await user.expect("по зоне Т2 (ночь)")
    await user.press(common_texts.BTN_BACK)
    await user.expect("по зоне Т1 (пик)")
    await user.press(common_texts.BTN_BACK)  # from the first zone: the list of meters
    back = await user.expect(texts.BACK_TO_METERS)
    assert back.reply_keyboard is not None and common_texts.MENU_READINGS in back.reply_keyboard[1]
    await user.expect(texts.CHOOSE_METER)
    assert await readings_of(cabinet, meter) == []


async def test_a_corrected_number_typed_instead_of_answering_are_you_sure(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await user.send(str(previous + 5000))
    await user.expect("Вы уверены?")
    await user.send(str(previous + 50))  # the subscriber noticed the typo and just retyped
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert "расход 50,00 кВт·ч" in summary.text


async def test_digits_of_another_script_are_understood(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    value = previous + 12
    await user.send("".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in str(value)))
    await user.expect(texts.ASK_PHOTO)
    await user.press(texts.BTN_NO_PHOTO)
    summary = await user.expect("Проверьте показания")
    assert f"Показание: {num(value)}, расход 12,00 кВт·ч" in summary.text


async def test_a_pdf_is_not_taken_for_the_meter_photo(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    await open_entry(user, meter)
    await user.send(str(await last_value(cabinet, meter) + 10))
    await user.expect(texts.ASK_PHOTO)
    await user.send_document(b"%PDF-1.4\n" + b"0" * 100, filename="meter.pdf")
    await user.expect(texts.PHOTO_UNSUPPORTED)
    await user.send_document(JPEG, filename="meter.jpg", mime_type="image/jpeg")
    summary = await user.expect("Проверьте показания")
    assert "Фото счётчика: приложено" in summary.text


async def test_switching_the_account_mid_dialog_stores_nothing(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    await open_entry(user, meter)
    await _enter(user, await last_value(cabinet, meter) + 10)
    async with cabinet.sessions() as session:  # «Договоры» made another account current
        login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
        other = (await session.scalars(select(Account.id).order_by(Account.id))).all()[3]
        await session.execute(
            update(AccountLink).where(AccountLink.login_id == login_id).values(is_current=False)
        )
        session.add(AccountLink(login_id=login_id, account_id=other, is_current=True))
        await session.commit()
    await user.press(texts.BTN_CONFIRM)
    gone = await user.expect(texts.METER_GONE)
    assert gone.reply_keyboard is not None and common_texts.MENU_READINGS in gone.reply_keyboard[1]
    assert await readings_of(cabinet, meter) == []


async def test_a_meter_removed_meanwhile_is_not_written_to(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    await open_entry(user, meter)
    async with cabinet.sessions() as session:
        await session.execute(update(Meter).where(Meter.id == meter.id).values(is_active=False))
        await session.commit()
    await user.send(str(await last_value(cabinet, meter) + 10))
    await user.expect(texts.METER_GONE)
    assert await readings_of(cabinet, meter) == []


async def test_a_dialog_that_outlives_the_window_confirms_the_new_period(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    cabinet.clock.set(datetime(2026, 11, 25, 23, 58))
    meter = (await meters_of_current_account(cabinet))[0]
    await open_entry(user, meter)
    summary = await _enter(user, await last_value(cabinet, meter) + 10)
    assert "за ноябрь 2026" in summary.text
    cabinet.clock.set(datetime(2026, 11, 26, 0, 1))  # midnight in Moscow: the window closed
    await user.press(texts.BTN_CONFIRM)
    await user.expect("приём за ноябрь 2026 закончился")
    again = await user.expect("за декабрь 2026:")
    assert again.text.startswith("Проверьте показания")
    await user.press(texts.BTN_CONFIRM, message=again)
    done = await user.expect("Показания приняты")
    assert "за декабрь 2026" in done.text
    assert await readings_of(cabinet, meter) == []
    [stored] = await readings_of(cabinet, meter, date(2026, 12, 1))
    assert stored.taken_on == date(2026, 11, 26)


async def test_a_billing_reading_loaded_meanwhile_raises_the_floor(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await _enter(user, previous + 10)
    async with cabinet.sessions() as session:  # the registry import brought October's real value
        await session.execute(
            update(Reading)
            .where(Reading.meter_id == meter.id, Reading.period == date(2026, 10, 1))
            .values(value=previous + 100)
        )
        await session.commit()
    await user.press(texts.BTN_CONFIRM)
    reply = await user.expect("не может быть меньше предыдущего принятого")
    assert num(previous + 100) in reply.text and "Введите показание" in reply.text
    assert await readings_of(cabinet, meter) == []


async def test_the_second_entry_in_a_period_says_it_will_replace_the_first(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    previous = await last_value(cabinet, meter)
    await open_entry(user, meter)
    await _enter(user, previous + 30)
    await user.press(texts.BTN_CONFIRM)
    await user.expect("Показания приняты")
    await open_entry(user, meter)
    question = await user.expect("Введите показание")
    assert f"уже принято {num(previous + 30)}: новое показание заменит его" in question.text
    # The floor stays the previous period's value: a typo can be corrected downwards.
    await user.send(str(previous + 20))
    await user.expect(texts.ASK_PHOTO)


# --- the history as the subscriber sees it -----------------------------------------------------


async def test_history_names_the_account_and_the_reference_and_escapes_registry_text(
    cabinet: Cabinet,
) -> None:
    user = await subscriber(cabinet)
    meter = (await meters_of_current_account(cabinet))[0]
    async with cabinet.sessions() as session:  # registry text with HTML and mathtext characters
        await session.execute(
            update(Meter).where(Meter.id == meter.id).values(serial_number="A$x_{$<1>")
        )
        await session.execute(
            update(Account).where(Account.id == meter.account_id).values(address="ул. Мира & <Co>")
        )
        await session.commit()
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    assert "ул. Мира & <Co>" in overview.text and "Счётчик № A$x_{$<1>" in overview.text
    await user.press(texts.BTN_ENTER.format(serial="A$x_{$<1>"))
    await user.expect("Введите показание")
    await _enter(user, await last_value(cabinet, meter) + 10)
    await user.press(texts.BTN_CONFIRM)
    done = await user.expect("Показания приняты")
    reference = done.text.split("Номер подтверждения: ")[1].rstrip(".")
    await user.send(common_texts.MENU_READINGS)
    await user.expect(texts.CHOOSE_METER)
    await user.press(texts.BTN_HISTORY)
    history = await user.expect("Счётчик № A$x_{$<1>")
    assert "ул. Мира & <Co>" in history.text
    assert f"принято, передано вами, № {reference}" in history.text
    chart = await user.expect(texts.CHART_CAPTION, timeout=CHART_TIMEOUT)
    assert chart.photo is not None and chart.photo.data.startswith(b"\x89PNG")


async def test_history_of_an_account_without_meters_says_so(cabinet: Cabinet) -> None:
    user = await subscriber(cabinet)
    await user.send(common_texts.MENU_READINGS)
    overview = await user.expect(texts.CHOOSE_METER)
    async with cabinet.sessions() as session:  # the meters left the account since then
        await session.execute(update(Meter).values(is_active=False))
        await session.commit()
    await user.press(texts.BTN_HISTORY, message=overview)
    await user.expect(texts.HISTORY_NO_METERS)
