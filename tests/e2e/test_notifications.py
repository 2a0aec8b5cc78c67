"""Scheduled pushes as a subscriber sees them: reading reminders through a reading window (who
is reminded when, «Напомнить завтра», nobody twice, nothing once readings are in, one catch-up
after downtime), the monthly bill with its PDF, and the pushes job run by the scheduler."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from bot.texts import fmt
from bot.texts import notifications as texts
from bot.texts import readings as reading_texts
from models import (
    Account,
    AccountLink,
    Meter,
    Notification,
    Reading,
    ReadingSource,
    ReadingStatus,
)
from services import billing, notifications
from tests.e2e.conftest import Cabinet
from tests.e2e.test_bills import WITH_SUPPLIER
from tests.helpers import eventually
from tests.unit.test_receipts import pdf_text, plain

DECEMBER = date(2026, 12, 1)


async def _subscriber(cabinet: Cabinet, user_id: int) -> tuple[Any, Account, Account]:
    """The demo login in Telegram user `user_id`'s chat, with a second account linked."""
    await cabinet.seed_demo()
    login_id = await cabinet.login_as(user_id)
    async with cabinet.sessions() as session:
        first, second = (await session.scalars(select(Account).order_by(Account.id).limit(2))).all()
        session.add(AccountLink(login_id=login_id, account_id=second.id, is_current=False))
        await session.commit()
    user = cabinet.user(user_id)
    await user.send("/help")
    await user.expect("Команды:")
    return user, first, second


async def _remind(cabinet: Cabinet, at: datetime) -> int:
    cabinet.clock.set(at)
    settings = cabinet.settings
    async with cabinet.sessions() as session:
        return await notifications.queue_reminders(
            session,
            now=cabinet.clock.now(),
            zone=settings.zone,
            window=settings.reading_window_days,
            at=settings.reminder_time,
        )


async def _readings_in(cabinet: Cabinet, account: Account, period: date) -> None:
    """The subscriber sent every meter's readings (arranged directly: the dialog has its tests)."""
    async with cabinet.sessions() as session:
        for meter in await session.scalars(select(Meter).where(Meter.account_id == account.id)):
            for zone in range(1, meter.zones + 1):
                session.add(
                    Reading(
                        meter_id=meter.id, zone=zone, period=period, value=Decimal("99999"),
                        source=ReadingSource.SUBSCRIBER, status=ReadingStatus.ACCEPTED,
                        taken_on=period.replace(day=16),
                    )
                )  # fmt: skip
        await session.commit()


async def _reminders_to(cabinet: Cabinet, chat_id: int) -> list[tuple[str, str]]:
    """(account number, day) of every reminder sent to the chat, in order."""
    async with cabinet.sessions() as session:
        rows = await session.scalars(
            select(Notification)
            .where(
                Notification.kind == notifications.REMINDER_KIND,
                Notification.chat_id == chat_id,
                Notification.sent_at.is_not(None),
            )
            .order_by(Notification.id)
        )
        return [(str(n.payload["number"]), str(n.payload["day"])) for n in rows]


def _reminder_for(user: Any, number: str, since: int) -> Any:
    found = [
        m for m in user.bot_messages
        if m.message_id > since and number in m.content_text and "Показания за" in m.content_text
    ]  # fmt: skip
    assert len(found) == 1, user.transcript()
    return found[0]


async def test_a_reading_window_walked_day_by_day(cabinet: Cabinet) -> None:
    user, first, second = await _subscriber(cabinet, 1301)
    moscow = cabinet.settings.zone

    # The window opens on the 15th; reminders go at 10:00 local time, not before.
    assert await _remind(cabinet, datetime(2026, 12, 15, 9, 59, tzinfo=moscow)) == 0
    assert await _remind(cabinet, datetime(2026, 12, 15, 10, 0, tzinfo=moscow)) >= 2
    await user.expect(f"№ {first.number}", timeout=15)
    await user.expect(f"№ {second.number}", timeout=15)
    last_id = max(m.message_id for m in user.bot_messages)
    to_first = _reminder_for(user, first.number, 0)
    to_second = _reminder_for(user, second.number, 0)
    assert "Пора передать показания" in to_first.text and "до 25.12.2026" in to_first.text
    # Nobody twice: a second tick of the same day queues nothing.
    assert await _remind(cabinet, datetime(2026, 12, 15, 10, 5, tzinfo=moscow)) == 0

    # «Напомнить завтра» for the second account; a double press changes nothing.
    for _ in range(2):
        await user.press(texts.BTN_REMIND_TOMORROW, message=to_second)
        answer = await user.expect_callback_answer()
        assert answer.text == texts.snoozed(date(2026, 12, 16))

    # «Передать показания» opens the readings of that account (made current); a double press
    # shows one list and says where it is.
    await user.press(texts.BTN_SEND_READINGS, message=to_first)
    overview = await user.expect(reading_texts.CHOOSE_METER)
    assert first.number in overview.text
    await user.press(texts.BTN_SEND_READINGS, message=to_first)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.READINGS_ALREADY_OPENED
    lists = [m for m in user.bot_messages if reading_texts.CHOOSE_METER in (m.text or "")]
    assert lists == [overview]
    await _readings_in(cabinet, first, DECEMBER)

    # The 16th is not a scheduled day: only the snoozed reminder comes.
    assert await _remind(cabinet, datetime(2026, 12, 16, 10, 0, tzinfo=moscow)) == 1
    await user.expect(f"№ {second.number}", timeout=15)
    assert await _remind(cabinet, datetime(2026, 12, 16, 18, 0, tzinfo=moscow)) == 0

    # The bot was down from the 17th to the last day's afternoon: one catch-up, the final one,
    # and only for the account still without readings.
    assert await _remind(cabinet, datetime(2026, 12, 25, 15, 0, tzinfo=moscow)) == 1
    final = await user.expect("последний день приёма показаний", timeout=15)
    assert second.number in final.text
    assert [b["text"] for row in final.reply_markup["inline_keyboard"] for b in row] == [
        texts.BTN_SEND_READINGS
    ]
    assert await _remind(cabinet, datetime(2026, 12, 25, 20, 0, tzinfo=moscow)) == 0
    # After the window: nothing.
    assert await _remind(cabinet, datetime(2026, 12, 26, 10, 0, tzinfo=moscow)) == 0
    expected = [
        (first.number, "2026-12-15"),
        (second.number, "2026-12-15"),
        (second.number, "2026-12-16"),
        (second.number, "2026-12-25"),
    ]

    async def recorded() -> bool:  # «sent» is committed just after the message arrives
        return await _reminders_to(cabinet, 1301) == expected

    await eventually(recorded)
    assert max(m.message_id for m in user.bot_messages) > last_id


@WITH_SUPPLIER
async def test_the_monthly_bill_arrives_with_its_pdf_and_a_pay_button(cabinet: Cabinet) -> None:
    user, first, second = await _subscriber(cabinet, 1302)
    settings = cabinet.settings
    cabinet.clock.set(datetime(2026, 11, 26, 1, 30, tzinfo=settings.zone))
    today, now = cabinet.clock.today(), cabinet.clock.now()
    async with cabinet.sessions() as session:  # a debt, so the bill has something to pay
        await session.execute(update(Account).values(balance=Decimal(0)))
        await session.commit()
    period = billing.last_closed_period(today, settings.reading_window_days)
    assert period == date(2026, 11, 1)
    async with cabinet.sessions() as session:
        # Before the billing run is over nothing goes (its later batches would be left out).
        assert await notifications.queue_bills(session, period, now=now) == 0
        await billing.run_billing(
            session, period, today=today, now=now,
            window=settings.reading_window_days, due_day=settings.bill_due_day,
        )  # fmt: skip
        await notifications.billing_finished(session, period, now=now)
        assert await notifications.queue_bills(session, period, now=now) == 2
        assert await notifications.queue_bills(session, period, now=now) == 0
    bill = await user.expect(f"за ноябрь 2026 по лицевому счёту № {first.number}", timeout=30)
    await user.expect(f"за ноябрь 2026 по лицевому счёту № {second.number}", timeout=30)
    assert bill.document is not None
    assert bill.document.filename == f"Квитанция_{first.number}_2026-11.pdf"
    assert "Счёт-квитанция №" in plain(pdf_text(bill.document.data))
    async with cabinet.sessions() as session:
        account = await session.get(Account, first.id)
        assert account is not None
        due = account.balance
    assert plain(f"К оплате: {fmt.money(due)}") in plain(bill.caption or "")
    # «Оплатить» opens the payment of that bill (no provider here: how to pay by the QR code).
    await user.press(texts.BTN_PAY, message=bill)
    await user.expect(f"№ {first.number}")

    async def both_recorded() -> bool:
        async with cabinet.sessions() as session:
            sent = await session.scalar(
                select(func.count()).where(
                    Notification.kind == notifications.BILL_KIND, Notification.sent_at.is_not(None)
                )
            )
        return sent == 2

    await eventually(both_recorded)


async def test_the_scheduler_catches_up_on_a_missed_reminder_at_start(cabinet: Cabinet) -> None:
    """The bot was down on the window's first day: started on the 17th, its pushes job (at
    start, by the scheduler) sends the reminder of the 15th, once."""
    user, first, _ = await _subscriber(cabinet, 1303)
    await cabinet.stop()
    cabinet.clock.set(datetime(2026, 12, 17, 8, 0, tzinfo=cabinet.settings.zone))
    await cabinet.start()
    reminder = await user.expect(f"№ {first.number}", timeout=30)
    assert "Пора передать показания" in reminder.text
    assert await _remind(cabinet, cabinet.clock.now()) == 0
