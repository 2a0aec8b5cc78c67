"""The payments service on a real database (SQLite and PostgreSQL), with a fake YooKassa API
spoken to through the real SDK: amounts, what is due, the pre-checkout, crediting exactly once,
notifications, polling and the history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import (
    Account,
    AccountLink,
    AuditEvent,
    Charge,
    Login,
    Notification,
    Payment,
    PaymentChannel,
    PaymentStatus,
)
from services import billing, payments
from services.yookassa_api import ProviderUnavailable, YooKassaGateway
from tests.fake_yookassa import FakeYooKassa

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MIN, MAX = Decimal("1.00"), Decimal("100000.00")
NOVEMBER = date(2026, 11, 1)


@dataclass
class Household:
    login_id: int
    account_id: int
    charge_id: int
    user_id: int = 1001


async def household(
    session: AsyncSession,
    *,
    balance: str = "1234.56",
    total_due: str | None = None,
    number: str = "7400000001",
    email: str = "ivanov@example.ru",
) -> Household:
    """A login with one linked account owing `balance`, its November bill for `total_due`."""
    account = Account(number=number, holder_surname="Иванов", holder_name="Иван",
                      holder_patronymic=None, address="ул. Металлургов, д. 1",
                      balance=Decimal(balance))  # fmt: skip
    login = Login(email=email, phone="+79990000000", surname="Иванов", name="Иван",
                  patronymic=None, password_hash="x", consent_version="1", consent_at=NOW)  # fmt: skip
    session.add_all([account, login])
    await session.flush()
    session.add(AccountLink(login_id=login.id, account_id=account.id, is_current=True))
    due = Decimal(total_due or balance)
    charge = Charge(account_id=account.id, period=NOVEMBER, number=f"{number}-202611",
                    opening_balance=Decimal(0), charged=due, paid=Decimal(0), total_due=due,
                    due_date=date(2026, 12, 10), created_at=NOW - timedelta(days=1))  # fmt: skip
    session.add(charge)
    await session.commit()
    return Household(login.id, account.id, charge.id)


async def start(
    session: AsyncSession,
    home: Household,
    amount: str = "1234.56",
    *,
    key: str = "k" * 32,
    channel: PaymentChannel = PaymentChannel.TELEGRAM,
    charge: bool = True,
    user_id: int | None = None,
) -> payments.StartedPayment:
    return await payments.start_payment(
        session, payload=key, login_id=home.login_id, telegram_user_id=user_id or home.user_id,
        account_id=home.account_id, charge_id=home.charge_id if charge else None,
        amount=Decimal(amount), channel=channel, minimum=MIN, maximum=MAX, now=NOW,
    )  # fmt: skip


async def balance_of(session: AsyncSession, account_id: int) -> Decimal:
    session.expire_all()
    value = await session.scalar(select(Account.balance).where(Account.id == account_id))
    assert value is not None
    return Decimal(value)


async def credit(
    session: AsyncSession, started: payments.StartedPayment, charge: str = "tg-1"
) -> payments.Credit:
    return await payments.credit_telegram(
        session, payload=started.payload, total_amount=payments.kopecks(started.amount),
        currency="RUB", telegram_payment_charge_id=charge,
        provider_payment_charge_id=f"yk-{charge}", telegram_user_id=1001, now=NOW,
    )  # fmt: skip


async def audit_count(session: AsyncSession, action: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
        or 0
    )


# --- amounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1500", "1500.00"),
        ("1 500,50", "1500.50"),
        ("1500.5", "1500.50"),
        ("1234,56 ₽", "1234.56"),
        ("500р", "500.00"),
        ("500 руб.", "500.00"),
        ("1\u00a0000", "1000.00"),
        ("１５００", "1500.00"),
    ],
)
def test_amounts_are_read_with_comma_or_dot_and_kopecks(typed: str, expected: str) -> None:
    assert payments.parse_amount(typed, minimum=MIN, maximum=MAX) == Decimal(expected)


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("сто рублей", payments.NotAnAmount),
        ("-500", payments.NotAnAmount),
        ("1,500.50", payments.NotAnAmount),
        ("", payments.NotAnAmount),
        ("1500,505", payments.TooManyKopecks),
        ("0,99", payments.AmountTooSmall),
        ("0", payments.AmountTooSmall),
        ("100000,01", payments.AmountTooLarge),
    ],
)
def test_anything_else_is_refused_with_its_reason(typed: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        payments.parse_amount(typed, minimum=MIN, maximum=MAX)


@given(
    st.decimals(min_value=MIN, max_value=MAX, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from([",", "."]),
)
def test_any_amount_within_limits_reads_back_exactly(amount: Decimal, separator: str) -> None:
    text = f"{amount:.2f}".replace(".", separator)
    parsed = payments.parse_amount(text, minimum=MIN, maximum=MAX)
    assert parsed == amount and payments.rubles(payments.kopecks(parsed)) == amount


def test_suggested_amount_stays_within_limits() -> None:
    assert payments.suggested_amount(Decimal("250.00"), minimum=MIN, maximum=MAX) == Decimal("250")
    assert payments.suggested_amount(Decimal("0.50"), minimum=MIN, maximum=MAX) == MIN
    assert payments.suggested_amount(Decimal("250000"), minimum=MIN, maximum=MAX) == MAX
    assert payments.suggested_amount(Decimal(0), minimum=MIN, maximum=MAX) is None


def test_receipt_is_one_54fz_line_with_the_customers_email() -> None:
    data = payments.receipt(
        email="ivanov@example.ru", description="Электроснабжение за ноябрь 2026, л/с 7400000001",
        amount=Decimal("1234.5"), vat_code=1, advance=False,
    )  # fmt: skip
    assert data == {
        "customer": {"email": "ivanov@example.ru"},
        "items": [
            {
                "description": "Электроснабжение за ноябрь 2026, л/с 7400000001",
                "quantity": "1.00",
                "amount": {"value": "1234.50", "currency": "RUB"},
                "vat_code": 1,
                "payment_mode": "full_payment",
                "payment_subject": "service",
            }
        ],
    }
    advance = payments.receipt(
        email=None, description="Аванс", amount=Decimal(5), vat_code=4, advance=True
    )
    assert advance["items"][0]["payment_mode"] == "advance" and "customer" not in advance


# --- what is due -------------------------------------------------------------------------------


async def test_due_is_the_positive_balance_named_after_the_latest_unpaid_bill(
    session: AsyncSession,
) -> None:
    home = await household(session, balance="1234.56")
    due = await payments.due_for_account(session, home.account_id)
    assert (due.amount_due, due.bill_number, due.period) == (
        Decimal("1234.56"), "7400000001-202611", NOVEMBER,
    )  # fmt: skip
    await session.execute(
        update(Account).where(Account.id == home.account_id).values(balance=Decimal("-50"))
    )
    await session.commit()
    due = await payments.due_for_account(session, home.account_id)
    assert due.amount_due == 0 and due.charge_id is None and due.balance == Decimal("-50.00")


async def test_a_bills_remainder_is_what_the_bills_section_shows(session: AsyncSession) -> None:
    """One rule for «Счета» and «Оплатить»: a payment counts toward the bill that was latest
    when it was paid, and the older debt carried into it is settled first."""
    home = await household(session, balance="1000.00")
    november = await session.get(Charge, home.charge_id)
    assert november is not None
    november.opening_balance, november.charged = Decimal(300), Decimal(700)
    november.created_at = NOW - timedelta(days=5)
    october = Charge(account_id=home.account_id, period=date(2026, 10, 1), number="7400000001-202610",
                     opening_balance=Decimal(0), charged=Decimal(300), paid=Decimal(0),
                     total_due=Decimal(300), due_date=date(2026, 11, 10),
                     created_at=NOW - timedelta(days=35))  # fmt: skip
    session.add(october)
    await session.commit()

    async def remainders() -> tuple[Decimal, Decimal]:
        shown = []
        for charge_id in (october.id, home.charge_id):
            due = await payments.due_for_bill(session, home.account_id, charge_id)
            assert due.amount_due == await billing.remaining_due(session, charge_id)
            shown.append(due.amount_due)
        return shown[0], shown[1]

    assert await remainders() == (Decimal(300), Decimal(1000))
    paid = await start(session, home, "900.00", key="o" * 32)  # after November was issued
    await credit(session, paid)
    assert await remainders() == (Decimal(0), Decimal(100))  # October's debt went first
    last = await start(session, home, "100.00", key="l" * 32)
    await credit(session, last, "tg-2")
    assert await remainders() == (Decimal(0), Decimal(0))
    assert (await payments.due_for_account(session, home.account_id)).amount_due == 0
    with pytest.raises(payments.BillNotFound):
        await payments.due_for_bill(session, home.account_id, home.charge_id + 100)


# --- starting ----------------------------------------------------------------------------------


async def test_the_same_key_starts_one_payment(session: AsyncSession) -> None:
    home = await household(session)
    first = await start(session, home)
    assert first.status == PaymentStatus.PENDING and first.email == "ivanov@example.ru"
    with pytest.raises(payments.PaymentAlreadyStarted) as again:
        await start(session, home)
    assert again.value.payment.id == first.id
    assert await session.scalar(select(func.count()).select_from(Payment)) == 1


async def test_an_unlinked_account_or_an_amount_out_of_limits_starts_nothing(
    session: AsyncSession,
) -> None:
    home = await household(session)
    with pytest.raises(payments.AmountTooLarge):
        await start(session, home, "100000.01")
    with pytest.raises(payments.AccountNotLinked):
        await start(session, Household(home.login_id + 1, home.account_id, home.charge_id))


# --- Telegram: pre-checkout and exactly-once credit --------------------------------------------


async def test_checkout_refuses_with_the_reason(session: AsyncSession) -> None:
    home = await household(session)
    started = await start(session, home)
    good = {"payload": started.payload, "telegram_user_id": 1001, "login_id": home.login_id,
            "total_amount": 123456, "currency": "RUB"}  # fmt: skip
    await payments.check_checkout(session, **good)  # type: ignore[arg-type]
    cases: list[tuple[dict[str, object], type[Exception]]] = [
        ({"payload": "nope"}, payments.UnknownInvoice),
        ({"telegram_user_id": 2002}, payments.NotThePayer),
        ({"total_amount": 123455}, payments.AmountMismatch),
        ({"currency": "USD"}, payments.AmountMismatch),
        ({"login_id": None}, payments.AccountUnlinked),
        ({"login_id": home.login_id + 1}, payments.AccountUnlinked),
    ]
    for change, error in cases:
        with pytest.raises(error):
            await payments.check_checkout(session, **{**good, **change})  # type: ignore[arg-type]


async def test_checkout_refuses_after_the_balance_moved_and_names_the_new_due(
    session: AsyncSession,
) -> None:
    home = await household(session, balance="1000.00")
    first = await start(session, home, "1000.00", key="a" * 32)
    second = await start(session, home, "1000.00", key="b" * 32, user_id=1002)
    await credit(session, first)
    with pytest.raises(payments.DueChanged) as refused:
        await payments.check_checkout(
            session, payload=second.payload, telegram_user_id=1002, login_id=home.login_id,
            total_amount=100000, currency="RUB",
        )  # fmt: skip
    assert refused.value.due == 0
    with pytest.raises(payments.AlreadyPaid):
        await payments.check_checkout(
            session, payload=first.payload, telegram_user_id=1001, login_id=home.login_id,
            total_amount=100000, currency="RUB",
        )  # fmt: skip


async def test_a_repeated_successful_payment_credits_once(session: AsyncSession) -> None:
    home = await household(session, balance="1234.56")
    started = await start(session, home)
    first = await credit(session, started)
    again = await credit(session, started)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.balance == again.balance == Decimal("0.00")
    assert await balance_of(session, home.account_id) == 0
    assert await audit_count(session, "payment_credited") == 1
    payment = await session.get(Payment, started.id, populate_existing=True)
    assert payment is not None and payment.status == PaymentStatus.SUCCEEDED
    assert payment.telegram_payment_charge_id == "tg-1" and payment.paid_at == NOW


async def test_concurrent_confirmations_credit_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        home = await household(session, balance="500.00")
        started = await start(session, home, "500.00")

    async def confirm() -> payments.Credit:
        async with sessions() as own:
            return await credit(own, started)

    results = await asyncio.gather(*(confirm() for _ in range(4)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True]
    async with sessions() as session:
        assert await balance_of(session, home.account_id) == 0
        assert await audit_count(session, "payment_credited") == 1


async def test_an_unknown_payload_is_recorded_not_lost(session: AsyncSession) -> None:
    with pytest.raises(payments.PaymentNotFound):
        await payments.credit_telegram(
            session, payload="forged", total_amount=10000, currency="RUB",
            telegram_payment_charge_id="tg-x", provider_payment_charge_id="yk-x",
            telegram_user_id=1001, now=NOW,
        )  # fmt: skip
    assert await audit_count(session, "payment_unmatched") == 1


# --- YooKassa link -----------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeYooKassa]:
    async with FakeYooKassa() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeYooKassa) -> YooKassaGateway:
    return YooKassaGateway(fake.shop_id, fake.secret_key, fake.base_url)


async def open_link(
    session: AsyncSession, gateway: YooKassaGateway, home: Household, amount: str = "1234.56"
) -> payments.StartedPayment:
    started = await start(session, home, amount, channel=PaymentChannel.YOOKASSA_LINK)
    return await payments.open_link(
        session, gateway, started, description="Электроэнергия",
        receipt_data=payments.receipt(email=started.email, description="Электроснабжение",
                                      amount=started.amount, vat_code=1, advance=False),
        return_to=payments.return_url(None, "mef_cabinet_bot", started.payload), now=NOW,
    )  # fmt: skip


async def provider_id_of(session: AsyncSession, payment_id: int) -> str:
    payment = await session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None and payment.provider_payment_charge_id is not None
    return payment.provider_payment_charge_id


async def test_a_link_is_created_once_with_our_payload_as_idempotence_key(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session)
    opened = await open_link(session, gateway, home)
    assert opened.confirmation_url and "orderId=" in opened.confirmation_url
    [request] = fake.created()
    assert request.headers["Idempotence-Key"] == opened.payload
    assert request.body is not None
    assert request.body["amount"] == {"value": "1234.56", "currency": "RUB"}
    assert request.body["confirmation"]["return_url"] == (
        f"https://t.me/mef_cabinet_bot?start=pay_{opened.payload}"
    )
    assert request.body["receipt"]["customer"] == {"email": "ivanov@example.ru"}
    assert request.body["metadata"]["payload"] == opened.payload
    # Opening it again (a retried press) reuses the link instead of asking YooKassa again.
    again = await payments.open_link(
        session, gateway, opened, description="", receipt_data={}, return_to="x", now=NOW
    )
    assert again.confirmation_url == opened.confirmation_url and len(fake.created()) == 1


async def test_yookassa_down_cancels_the_attempt(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session)
    fake.failures = 1
    with pytest.raises(ProviderUnavailable):
        await open_link(session, gateway, home)
    payment = await session.scalar(select(Payment))
    assert payment is not None and payment.status == PaymentStatus.CANCELED


async def test_paid_link_is_credited_once_however_often_yookassa_notifies(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session, balance="1234.56")
    opened = await open_link(session, gateway, home)
    provider_id = await provider_id_of(session, opened.id)
    fake.succeed(provider_id, method="sbp")
    body = fake.notification(provider_id)
    results = [
        await payments.handle_notification(session, gateway, body, now=NOW) for _ in range(3)
    ]
    assert (
        results
        == [payments.NotificationResult.CREDITED] + [payments.NotificationResult.UNCHANGED] * 2
    )
    assert await balance_of(session, home.account_id) == 0
    assert await audit_count(session, "payment_credited") == 1
    payment = await session.get(Payment, opened.id, populate_existing=True)
    assert payment is not None and payment.method == "sbp"
    [pushed] = (await session.scalars(select(Notification))).all()
    assert pushed.chat_id == 1001 and pushed.kind == payments.NOTIFY_KIND
    assert pushed.payload == {"amount": "1234.56", "account": "7400000001", "balance": "0.00"}
    # The payer comes back to the chat afterwards: the credit is shown, not repeated.
    outcome = await payments.refresh_link(
        session, gateway, payload=opened.payload, telegram_user_id=1001, now=NOW
    )
    assert outcome.state == payments.LinkState.SUCCEEDED and outcome.credit is not None
    assert outcome.credit.duplicate and await balance_of(session, home.account_id) == 0


async def test_cancelled_link_changes_nothing_but_its_status(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session, balance="1234.56")
    opened = await open_link(session, gateway, home)
    provider_id = await provider_id_of(session, opened.id)
    fake.cancel(provider_id)
    result = await payments.handle_notification(
        session, gateway, fake.notification(provider_id), now=NOW
    )
    assert result == payments.NotificationResult.UNCHANGED
    assert await balance_of(session, home.account_id) == Decimal("1234.56")
    payment = await session.get(Payment, opened.id, populate_existing=True)
    assert payment is not None and payment.status == PaymentStatus.CANCELED
    assert await audit_count(session, "payment_credited") == 0


async def test_forged_notifications_change_nothing(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session, balance="1234.56")
    opened = await open_link(session, gateway, home)
    provider_id = await provider_id_of(session, opened.id)
    forged = fake.notification(provider_id, event="payment.succeeded", status="succeeded",
                               paid=True)  # fmt: skip
    assert (
        await payments.handle_notification(session, gateway, forged, now=NOW)
        == payments.NotificationResult.UNCHANGED
    )
    assert fake.reads_of(provider_id) == 1  # re-read from the API, not believed
    invented = fake.notification("2f1e0c4b-000f-5000-9000-1b2c3d4e5f60", status="succeeded")
    assert (
        await payments.handle_notification(session, gateway, invented, now=NOW)
        == payments.NotificationResult.UNKNOWN
    )
    junks: list[object] = [
        {"type": "notification", "event": "refund.succeeded", "object": {"id": "x"}},
        {"event": "payment.succeeded"},
        [],
        "text",
    ]
    for junk in junks:
        assert (
            await payments.handle_notification(session, gateway, junk, now=NOW)
            == payments.NotificationResult.IGNORED
        )
    # A real payment of another shop system claiming our payload in its metadata.
    other = fake.add_payment("1234.56", metadata={"payload": opened.payload})
    assert (
        await payments.handle_notification(session, gateway, fake.notification(other), now=NOW)
        == payments.NotificationResult.UNKNOWN
    )
    assert await balance_of(session, home.account_id) == Decimal("1234.56")


async def test_polling_resolves_pending_links_when_notifications_are_lost(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session, balance="3000.00")
    paid = await open_link(session, gateway, home, "1000.00")
    waiting = await start(session, home, "500.00", key="w" * 32,
                          channel=PaymentChannel.YOOKASSA_LINK)  # fmt: skip
    waiting = await payments.open_link(
        session, gateway, waiting, description="Электроэнергия", receipt_data={},
        return_to="https://t.me/mef_cabinet_bot", now=NOW,
    )  # fmt: skip
    fake.succeed(await provider_id_of(session, paid.id))
    assert await payments.poll_pending(session, gateway, now=NOW + timedelta(minutes=1)) == 1
    assert await balance_of(session, home.account_id) == Decimal("2000.00")
    assert await payments.poll_pending(session, gateway, now=NOW + timedelta(minutes=2)) == 0
    fake.cancel(await provider_id_of(session, waiting.id))
    assert await payments.poll_pending(session, gateway, now=NOW + timedelta(minutes=3)) == 1
    assert await balance_of(session, home.account_id) == Decimal("2000.00")
    assert await audit_count(session, "payment_credited") == 1


# --- history -----------------------------------------------------------------------------------


async def test_history_lists_the_last_twelve_months_newest_first(
    session: AsyncSession, fake: FakeYooKassa, gateway: YooKassaGateway
) -> None:
    home = await household(session, balance="5000.00")
    paid = await start(session, home, "1000.00", key="p" * 32)
    await credit(session, paid)
    await start(session, home, "200.00", key="u" * 32)  # an invoice never paid
    link = await open_link(session, gateway, home, "300.00")
    old = Payment(account_id=home.account_id, amount=Decimal(50), channel=PaymentChannel.TELEGRAM,
                  status=PaymentStatus.SUCCEEDED, payload="o" * 32, created_at=NOW - timedelta(days=400),
                  paid_at=NOW - timedelta(days=400))  # fmt: skip
    session.add(old)
    await session.commit()
    later = NOW + timedelta(hours=1)
    await session.execute(update(Payment).where(Payment.id == link.id).values(created_at=later))
    await session.commit()
    entries = await payments.history(session, home.login_id, now=NOW + timedelta(days=1))
    assert [(e.amount, e.status, e.channel) for e in entries] == [
        (Decimal("300.00"), PaymentStatus.PENDING, PaymentChannel.YOOKASSA_LINK),
        (Decimal("1000.00"), PaymentStatus.SUCCEEDED, PaymentChannel.TELEGRAM),
    ]
    assert entries[1].period == NOVEMBER and entries[1].account_number == "7400000001"
    stranger = await household(session, number="7400000002", email="other@example.ru")
    assert await payments.history(session, stranger.login_id, now=NOW) == []
