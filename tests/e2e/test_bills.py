"""«🧾 Счета» as a subscriber meets it: the last 6 bills, a bill's detail, the PDF receipt."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.texts import bills as texts
from bot.texts import common as common_texts
from bot.texts import fmt
from bot.texts import payments as payment_texts
from models import Account, AccountLink, Login
from services import billing, receipts
from services.demo import DEMO_EMAIL
from tests.e2e.conftest import Cabinet
from tests.unit.test_receipts import SUPPLIER, decode_qr, pdf_text, plain

WITH_SUPPLIER = pytest.mark.settings(
    supplier_name=SUPPLIER.name,
    supplier_inn=SUPPLIER.inn,
    supplier_kpp=SUPPLIER.kpp,
    supplier_account=SUPPLIER.account,
    supplier_bank=SUPPLIER.bank,
    supplier_bic=SUPPLIER.bic,
    supplier_corr_account=SUPPLIER.corr_account,
)


async def subscriber(cabinet: Cabinet, user_id: int = 1001) -> tuple[Any, int]:
    """A logged-in demo subscriber and the id of their current account (a year of bills)."""
    await cabinet.seed_demo()
    await cabinet.login_as(user_id)
    async with cabinet.sessions() as session:
        account_id = await session.scalar(
            select(AccountLink.account_id)
            .join(Login, Login.id == AccountLink.login_id)
            .where(Login.email == DEMO_EMAIL, AccountLink.is_current.is_(True))
        )
    assert account_id is not None
    return cabinet.user(user_id), account_id


async def statuses(cabinet: Cabinet, account_id: int) -> list[billing.BillState]:
    async with cabinet.sessions() as session:
        return await billing.bill_statuses(session, account_id, limit=6)


async def test_the_list_shows_the_last_six_bills_newest_first(cabinet: Cabinet) -> None:
    user, account_id = await subscriber(cabinet)
    expected = await statuses(cabinet, account_id)
    await user.send(common_texts.MENU_BILLS)
    shown = await user.expect("Счета за последние 6 месяцев")
    positions = [shown.text.index(texts.period_title(s.period)) for s in expected]
    assert positions == sorted(positions)
    assert expected[0].period == date(2026, 10, 1)
    # October's bill was due on 10 November and nothing was paid since (today is 20 November).
    assert f"К оплате: {fmt.money(expected[0].to_pay)} — срок оплаты истёк 10.11.2026" in shown.text
    for state in expected:
        assert f"Начислено: {fmt.money(state.charged)}" in shown.text
        assert texts.STATUS[state.status] in shown.text
    rows = []
    for state in expected:
        rows.append(
            [texts.BTN_DETAIL.format(period=texts.period_title(state.period)), texts.BTN_PDF]
        )
        if state.to_pay > 0 and state.carried_to is None:
            rows.append([payment_texts.BTN_PAY_BILL])  # the payments dialog for that bill
    assert shown.inline_buttons == rows
    assert [payment_texts.BTN_PAY_BILL] in rows  # October is still to pay


@WITH_SUPPLIER
async def test_detail_then_the_pdf_receipt_matches_the_bill(cabinet: Cabinet) -> None:
    user, account_id = await subscriber(cabinet)
    latest = (await statuses(cabinet, account_id))[0]
    await user.send(common_texts.MENU_BILLS)
    await user.expect("Счета за последние")
    await user.press(texts.BTN_DETAIL.format(period=texts.period_title(latest.period)))
    detail = await user.expect(f"Счёт № {latest.number}")
    assert f"Итого к оплате: {fmt.money(latest.total_due)}" in detail.text
    assert "Счётчик №" in detail.text and "кВт·ч ×" in detail.text
    await user.press(texts.BTN_PDF, message=detail)
    sent = await user.expect("Квитанция за октябрь 2026", timeout=15)
    assert sent.document is not None
    async with cabinet.sessions() as session:
        account = await session.get(Account, account_id)
        assert account is not None
    assert sent.document.filename == f"Квитанция_{account.number}_2026-10.pdf"
    text = plain(pdf_text(sent.document.data))
    assert f"Счёт-квитанция № {latest.number} за октябрь 2026" in text
    assert f"Плательщик: {account.holder_full_name}" in text
    assert plain(f"Сумма к оплате: {fmt.money(latest.to_pay)}") in text
    fields = receipts.parse_qr_payload(decode_qr(sent.document.data))
    assert fields["PersAcc"] == account.number
    assert int(fields.get("Sum", "0")) == int(latest.to_pay * 100)


@WITH_SUPPLIER
async def test_a_second_press_sends_the_same_receipt_without_rendering_it_again(
    cabinet: Cabinet, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    original = receipts.render

    def counting(text: receipts.ReceiptText) -> bytes:
        rendered.append(text.filename)
        return original(text)

    monkeypatch.setattr(receipts, "render", counting)
    user, _ = await subscriber(cabinet)
    await user.send(common_texts.MENU_BILLS)
    listing = await user.expect("Счета за последние")
    await user.press_at(listing, 0, 1)
    first = await user.expect("Квитанция за", timeout=15)
    await user.press_at(listing, 0, 1)
    second = await user.expect("Квитанция за")
    assert second.message_id != first.message_id
    assert first.document is not None and second.document is not None
    assert second.document.file_id == first.document.file_id
    assert len(rendered) == 1


async def test_without_supplier_requisites_the_bot_says_receipts_are_unavailable(
    cabinet: Cabinet,
) -> None:
    user, _ = await subscriber(cabinet)
    await user.send(common_texts.MENU_BILLS)
    listing = await user.expect("Счета за последние")
    await user.press_at(listing, 0, 1)
    await user.expect(texts.PDF_UNAVAILABLE)


async def test_a_new_account_is_told_when_its_first_bill_comes(cabinet: Cabinet) -> None:
    user, _ = await subscriber(cabinet)
    async with cabinet.sessions() as session:
        login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
        fresh = Account(number="7400999999", holder_surname="Новый", holder_name="Абонент",
                        address="г. Магнитогорск, ул. Новая, д. 1")  # fmt: skip
        session.add(fresh)
        await session.flush()
        await session.execute(
            update(AccountLink).where(AccountLink.login_id == login_id).values(is_current=False)
        )
        session.add(AccountLink(login_id=login_id, account_id=fresh.id, is_current=True))
        await session.commit()
    await user.send(common_texts.MENU_BILLS)
    answer = await user.expect("счетов пока нет")
    assert "Ближайший — 26.11.2026 за ноябрь 2026" in answer.text
    assert "Передайте показания" in answer.text


async def test_a_button_of_another_account_is_answered_politely(cabinet: Cabinet) -> None:
    user, account_id = await subscriber(cabinet)
    await user.send(common_texts.MENU_BILLS)
    listing = await user.expect("Счета за последние")
    async with cabinet.sessions() as session:
        other = await session.scalar(select(Account.id).where(Account.id != account_id).limit(1))
        login_id = await session.scalar(select(Login.id).where(Login.email == DEMO_EMAIL))
        await session.execute(
            update(AccountLink).where(AccountLink.login_id == login_id).values(is_current=False)
        )
        session.add(AccountLink(login_id=login_id, account_id=other, is_current=True))
        await session.commit()
    await user.press_at(listing, 0, 0)
    answer = await user.expect_callback_answer()
    assert answer.text == texts.BILL_GONE
    await user.press_at(listing, 0, 1)
    assert (await user.expect_callback_answer()).text == texts.BILL_GONE


async def test_a_bill_by_average_explains_itself_and_asks_for_readings(cabinet: Cabinet) -> None:
    user, account_id = await subscriber(cabinet)
    cabinet.clock.set(datetime(2026, 11, 26, 10, 0))
    async with cabinet.sessions() as session:  # the nightly run: nobody sent November readings
        summary = await billing.run_billing(
            session, date(2026, 11, 1), today=cabinet.clock.today(), now=cabinet.clock.now(),
            window=(15, 25), due_day=10,
        )  # fmt: skip
    assert summary.billed == 20 and summary.by_average == 20
    await user.send(common_texts.MENU_BILLS)
    listing = await user.expect("Счета за последние")
    assert listing.text.index("Ноябрь 2026") < listing.text.index("Октябрь 2026")
    await user.press(texts.BTN_DETAIL.format(period="Ноябрь 2026"))
    detail = await user.expect("за ноябрь 2026")
    assert "(по среднему)" in detail.text
    assert "по среднему за последние 6 месяцев" in detail.text
    assert "Передавайте показания с 15 по 25 число" in detail.text
    [november] = [s for s in await statuses(cabinet, account_id) if s.period == date(2026, 11, 1)]
    assert f"Итого к оплате: {fmt.money(november.total_due)}" in detail.text
