"""Online payment: what is due, the amount a subscriber types, starting a payment (a Telegram
invoice or a YooKassa link), the pre-checkout check, crediting exactly once, YooKassa
notifications and polling, and the payment history.

The account's `balance` is its running debt (positive = owed, negative = overpaid). A payment
is credited by one conditional UPDATE (pending → succeeded) followed by `balance - amount` in
SQL, in one transaction with its audit event, so a repeated confirmation — the same update
twice, a notification twice, a notification and the chat message, two bot instances — credits
once. A link payment is credited only with what YooKassa's API itself reports, never with what
a notification body claims.
"""

from __future__ import annotations

import enum
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    AuditEvent,
    Charge,
    Login,
    Payment,
    PaymentChannel,
    PaymentStatus,
)
from services import billing
from services.errors import DomainError, NotFound
from services.notifications import enqueue
from services.yookassa_api import (
    ProviderPayment,
    ProviderPaymentNotFound,
    ProviderUnavailable,
    YooKassaGateway,
)

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
CURRENCY = "RUB"
HISTORY_DAYS = 365
HISTORY_LIMIT = 100
POLL_MAX_AGE = timedelta(days=2)
POLL_BATCH = 100
NOTIFY_KIND = "payment_succeeded"
# Telegram deep link back from YooKassa's page: /start pay_<payload> (≤ 64 characters).
RETURN_PREFIX = "pay_"
RECEIPT_SUBJECT = "service"  # 54-ФЗ «предмет расчёта»: услуга (электроснабжение)

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_RUBLES_SUFFIX = re.compile(r"(₽|руб(лей|ля|ль)?\.?|р\.?)$", re.IGNORECASE)
_AMOUNT = re.compile(r"([0-9]+)(?:[.,]([0-9]*))?")


# --- errors ------------------------------------------------------------------------------------


class AmountError(DomainError):
    """The typed amount cannot be paid; the handler re-asks with the reason."""


class NotAnAmount(AmountError):
    pass


class TooManyKopecks(AmountError):
    pass


class AmountTooSmall(AmountError):
    def __init__(self, minimum: Decimal) -> None:
        super().__init__(f"below {minimum}")
        self.minimum = minimum


class AmountTooLarge(AmountError):
    def __init__(self, maximum: Decimal) -> None:
        super().__init__(f"above {maximum}")
        self.maximum = maximum


class AccountNotLinked(DomainError):
    """The login no longer manages this account (unlinked in the meantime)."""


class BillNotFound(NotFound):
    """No such bill on the account (a stale button or another account's bill)."""


class PaymentNotFound(NotFound):
    """No payment with this payload, or not the asker's."""


class PaymentAlreadyStarted(DomainError):
    """The summary's key was used already: its invoice or link is in the chat."""

    def __init__(self, payment: StartedPayment) -> None:
        super().__init__(f"payment {payment.id} exists")
        self.payment = payment


class CheckoutRefused(DomainError):
    """Telegram's pre-checkout must be answered ok=False; subclasses say why."""


class UnknownInvoice(CheckoutRefused):
    pass


class AlreadyPaid(CheckoutRefused):
    pass


class NotThePayer(CheckoutRefused):
    pass


class AmountMismatch(CheckoutRefused):
    pass


class AccountUnlinked(CheckoutRefused):
    def __init__(self, number: str) -> None:
        super().__init__(f"account {number} unlinked")
        self.number = number


class DueChanged(CheckoutRefused):
    """The account's balance moved since the invoice (a payment, a new bill): pay afresh."""

    def __init__(self, due: Decimal) -> None:
        super().__init__(f"due is now {due}")
        self.due = due


# --- amounts -----------------------------------------------------------------------------------


def parse_amount(text: str, *, minimum: Decimal, maximum: Decimal) -> Decimal:
    """«1 234,56», «1234.5 ₽», «500 руб» → Decimal; kopecks after a comma or a dot, at most two."""
    compact = _SPACES.sub("", unicodedata.normalize("NFKC", text))
    compact = _RUBLES_SUFFIX.sub("", compact)
    match = _AMOUNT.fullmatch(compact)
    if match is None:
        raise NotAnAmount(text)
    rubles, kopecks = match[1], match[2] or ""
    if len(kopecks) > 2:
        raise TooManyKopecks(text)
    try:
        amount = Decimal(f"{rubles}.{kopecks or '0'}").quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits digits only
        raise NotAnAmount(text) from exc
    check_amount(amount, minimum=minimum, maximum=maximum)
    return amount


def check_amount(amount: Decimal, *, minimum: Decimal, maximum: Decimal) -> None:
    if amount < minimum:
        raise AmountTooSmall(minimum)
    if amount > maximum:
        raise AmountTooLarge(maximum)


def suggested_amount(due: Decimal, *, minimum: Decimal, maximum: Decimal) -> Decimal | None:
    """What the summary offers to pay: the amount due within the limits; None = ask (advance)."""
    if due <= 0:
        return None
    return min(max(due, minimum), maximum)


def kopecks(amount: Decimal) -> int:
    """Telegram's amounts are integers in the smallest unit: 1234.56 → 123456."""
    return int((amount.quantize(CENT) * 100).to_integral_value())


def rubles(kopeck_amount: int) -> Decimal:
    return (Decimal(kopeck_amount) / 100).quantize(CENT)


# --- what is due -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """What the payment summary shows: the account, the bill (if any) and the amount due."""

    account_id: int
    account_number: str
    address: str
    balance: Decimal
    amount_due: Decimal
    charge_id: int | None = None
    bill_number: str | None = None
    period: date | None = None
    due_date: date | None = None


async def bill_remaining(session: AsyncSession, charge: Charge) -> Decimal:
    """What is left to pay of a bill, by the one rule «Счета» shows (services.billing)."""
    return await billing.remaining_due(session, charge.id)


async def _account(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id, populate_existing=True)
    if account is None:
        raise AccountNotLinked(str(account_id))
    return account


async def due_for_account(session: AsyncSession, account_id: int) -> Due:
    """«💳 Оплата»: what the account owes, as the latest bill while something is owed;
    nothing owed = an advance (no bill)."""
    account = await _account(session, account_id)
    amount_due = max(Decimal(account.balance), Decimal(0)).quantize(CENT)
    latest = await session.scalar(
        select(Charge)
        .where(Charge.account_id == account_id)
        .order_by(Charge.period.desc())
        .limit(1)
    )
    return _due(account, amount_due, latest if amount_due > 0 else None)


async def due_for_bill(session: AsyncSession, account_id: int, charge_id: int) -> Due:
    """A bill's «💳 Оплатить»: what is left of that bill."""
    account = await _account(session, account_id)
    charge = await session.get(Charge, charge_id)
    if charge is None or charge.account_id != account_id:
        raise BillNotFound(str(charge_id))
    return _due(account, await bill_remaining(session, charge), charge)


async def current_due(session: AsyncSession, account_id: int, charge_id: int | None) -> Decimal:
    account = await _account(session, account_id)
    balance = Decimal(account.balance)
    charge = await session.get(Charge, charge_id) if charge_id is not None else None
    if charge is None:
        return max(balance, Decimal(0)).quantize(CENT)
    return await bill_remaining(session, charge)


def _due(account: Account, amount_due: Decimal, charge: Charge | None) -> Due:
    return Due(
        account_id=account.id,
        account_number=account.number,
        address=account.address,
        balance=Decimal(account.balance).quantize(CENT),
        amount_due=amount_due,
        charge_id=charge.id if charge else None,
        bill_number=charge.number if charge else None,
        period=charge.period if charge else None,
        due_date=charge.due_date if charge else None,
    )


# --- starting a payment ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartedPayment:
    """A payment record and what its invoice or link needs (no card data ever comes here)."""

    id: int
    payload: str
    channel: PaymentChannel
    status: PaymentStatus
    amount: Decimal
    account_number: str
    email: str | None
    charge_id: int | None
    bill_number: str | None
    period: date | None
    confirmation_url: str | None = None

    @property
    def advance(self) -> bool:
        return self.charge_id is None


async def _started(session: AsyncSession, payment: Payment) -> StartedPayment:
    account = await session.get(Account, payment.account_id)
    charge = await session.get(Charge, payment.charge_id) if payment.charge_id else None
    email = (
        await session.scalar(select(Login.email).where(Login.id == payment.login_id))
        if payment.login_id
        else None
    )
    return StartedPayment(
        id=payment.id,
        payload=payment.payload,
        channel=payment.channel,
        status=payment.status,
        amount=Decimal(payment.amount).quantize(CENT),
        account_number=account.number if account else "",
        email=email,
        charge_id=payment.charge_id,
        bill_number=charge.number if charge else None,
        period=charge.period if charge else None,
        confirmation_url=payment.confirmation_url,
    )


async def find_payment(session: AsyncSession, payload: str) -> StartedPayment | None:
    payment = await session.scalar(select(Payment).where(Payment.payload == payload))
    return await _started(session, payment) if payment else None


async def _linked(session: AsyncSession, login_id: int, account_id: int) -> bool:
    link = await session.scalar(
        select(AccountLink.id).where(
            AccountLink.login_id == login_id, AccountLink.account_id == account_id
        )
    )
    return link is not None


async def start_payment(
    session: AsyncSession,
    *,
    payload: str,
    login_id: int,
    telegram_user_id: int,
    account_id: int,
    charge_id: int | None,
    amount: Decimal,
    channel: PaymentChannel,
    minimum: Decimal,
    maximum: Decimal,
    now: datetime,
) -> StartedPayment:
    """Save a pending payment under the summary's key; the same key twice raises
    PaymentAlreadyStarted with the first one (a double press sends one invoice)."""
    existing = await find_payment(session, payload)
    if existing is not None:
        raise PaymentAlreadyStarted(existing)
    check_amount(amount, minimum=minimum, maximum=maximum)
    if not await _linked(session, login_id, account_id):
        raise AccountNotLinked(str(account_id))
    account = await _account(session, account_id)
    if charge_id is not None:
        charge = await session.get(Charge, charge_id)
        if charge is None or charge.account_id != account_id:
            raise BillNotFound(str(charge_id))
    payment = Payment(
        account_id=account_id,
        charge_id=charge_id,
        login_id=login_id,
        telegram_user_id=telegram_user_id,
        amount=amount.quantize(CENT),
        balance_snapshot=Decimal(account.balance).quantize(CENT),
        currency=CURRENCY,
        channel=channel,
        status=PaymentStatus.PENDING,
        payload=payload,
        created_at=now,
    )
    session.add(payment)
    try:
        await session.commit()
    except IntegrityError:  # the other press of the same button got there first
        await session.rollback()
        first = await find_payment(session, payload)
        if first is None:
            raise
        raise PaymentAlreadyStarted(first) from None
    return await _started(session, payment)


async def abandon(session: AsyncSession, payment_id: int, *, now: datetime, reason: str) -> None:
    """The invoice or link could not be issued: the record is cancelled, nothing was paid."""
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == PaymentStatus.PENDING)
        .values(status=PaymentStatus.CANCELED)
    )
    if _rowcount(result):
        session.add(
            AuditEvent(
                at=now, action="payment_abandoned", entity="payment",
                entity_id=str(payment_id), details={"reason": reason[:200]},
            )
        )  # fmt: skip
    await session.commit()


def receipt(
    *, email: str | None, description: str, amount: Decimal, vat_code: int, advance: bool
) -> dict[str, Any]:
    """The 54-ФЗ receipt YooKassa registers: one line, the customer's e-mail from the login."""
    data: dict[str, Any] = {
        "items": [
            {
                "description": description[:128],
                "quantity": "1.00",
                "amount": {"value": f"{amount.quantize(CENT):.2f}", "currency": CURRENCY},
                "vat_code": vat_code,
                "payment_mode": "advance" if advance else "full_payment",
                "payment_subject": RECEIPT_SUBJECT,
            }
        ]
    }
    if email:
        data["customer"] = {"email": email}
    return data


def return_url(configured: str | None, bot_username: str, payload: str) -> str:
    """Where YooKassa's page sends the payer back: the bot itself, by a deep link."""
    return configured or f"https://t.me/{bot_username}?start={RETURN_PREFIX}{payload}"


async def open_link(
    session: AsyncSession,
    gateway: YooKassaGateway,
    payment: StartedPayment,
    *,
    description: str,
    receipt_data: dict[str, Any],
    return_to: str,
    now: datetime,
) -> StartedPayment:
    """Create the YooKassa payment (idempotence key = our payload, so a retry after a crash gets
    the same payment) and keep its id and confirmation URL; a failure cancels our record."""
    if payment.confirmation_url:
        return payment
    request: dict[str, Any] = {
        "amount": {"value": f"{payment.amount:.2f}", "currency": CURRENCY},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": return_to},
        "description": description[:128],
        "metadata": {"payload": payment.payload, "payment_id": str(payment.id)},
    }
    if receipt_data:
        request["receipt"] = receipt_data
    try:
        created = await gateway.create_payment(request, idempotence_key=payment.payload)
    except (ProviderUnavailable, ProviderPaymentNotFound) as exc:
        await abandon(session, payment.id, now=now, reason=str(exc))
        raise ProviderUnavailable(str(exc)) from exc
    record = await session.get(Payment, payment.id)
    assert record is not None
    record.provider_payment_charge_id = created.id
    record.confirmation_url = created.confirmation_url
    await session.commit()
    return await _started(session, record)


# --- Telegram's pre-checkout -------------------------------------------------------------------


async def check_checkout(
    session: AsyncSession,
    *,
    payload: str,
    telegram_user_id: int,
    login_id: int | None,
    total_amount: int,
    currency: str,
) -> None:
    """Everything Telegram's pre_checkout_query must confirm within 10 s: the invoice is ours,
    unpaid, the payer's, for the same amount, the account still theirs and its balance unmoved."""
    payment = await session.scalar(select(Payment).where(Payment.payload == payload))
    if payment is None or payment.channel != PaymentChannel.TELEGRAM:
        raise UnknownInvoice(payload)
    if payment.status == PaymentStatus.SUCCEEDED:
        raise AlreadyPaid(payload)
    if payment.telegram_user_id != telegram_user_id:
        raise NotThePayer(payload)
    if currency != payment.currency or total_amount != kopecks(Decimal(payment.amount)):
        raise AmountMismatch(payload)
    account = await _account(session, payment.account_id)
    if login_id is None or not await _linked(session, login_id, payment.account_id):
        raise AccountUnlinked(account.number)
    if payment.balance_snapshot is not None and Decimal(account.balance) != Decimal(
        payment.balance_snapshot
    ):
        raise DueChanged(await current_due(session, payment.account_id, payment.charge_id))


# --- crediting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credit:
    """A credited payment as the confirmation shows it; `duplicate` = credited before."""

    payment_id: int
    amount: Decimal
    account_number: str
    balance: Decimal
    duplicate: bool = False


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _credit(
    session: AsyncSession,
    payment: Payment,
    amount: Decimal,
    *,
    now: datetime,
    telegram_payment_charge_id: str | None = None,
    provider_payment_charge_id: str | None = None,
    method: str | None = None,
    notify: bool = False,
) -> bool:
    """pending (or cancelled) → succeeded and balance − amount, in one transaction, or nothing
    when another confirmation won the race. Returns whether this call credited."""
    values: dict[str, Any] = {"status": PaymentStatus.SUCCEEDED, "paid_at": now, "amount": amount}
    if telegram_payment_charge_id is not None:
        values["telegram_payment_charge_id"] = telegram_payment_charge_id
    if provider_payment_charge_id is not None:
        values["provider_payment_charge_id"] = provider_payment_charge_id
    if method is not None:
        values["method"] = method[:40]
    payment_id, account_id = payment.id, payment.account_id
    login_id, telegram_user_id = payment.login_id, payment.telegram_user_id
    channel, charge_id, expected = payment.channel, payment.charge_id, Decimal(payment.amount)
    try:
        result = await session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.status != PaymentStatus.SUCCEEDED)
            .values(**values)
        )
        if not _rowcount(result):
            await session.rollback()
            return False
        await session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(balance=Account.balance - amount, updated_at=now)
        )
        account = await session.scalar(
            select(Account)
            .where(Account.id == account_id)
            .execution_options(populate_existing=True)
        )
        assert account is not None
        balance = Decimal(account.balance).quantize(CENT)
        details: dict[str, Any] = {
            "amount": f"{amount:.2f}",
            "account_id": account_id,
            "charge_id": charge_id,
            "channel": str(channel),
            "balance_after": f"{balance:.2f}",
            "telegram_payment_charge_id": telegram_payment_charge_id,
            "provider_payment_charge_id": provider_payment_charge_id,
        }
        if amount != expected:
            details["expected_amount"] = f"{expected:.2f}"
        session.add(
            AuditEvent(
                at=now, action="payment_credited", login_id=login_id,
                telegram_user_id=telegram_user_id, entity="payment", entity_id=str(payment_id),
                details=details,
            )
        )  # fmt: skip
        if notify and telegram_user_id is not None:
            await enqueue(
                session,
                kind=NOTIFY_KIND,
                chat_id=telegram_user_id,
                dedup_key=f"payment:{payment_id}:succeeded",
                payload={"amount": f"{amount:.2f}", "account": account.number,
                         "balance": f"{balance:.2f}"},
                login_id=login_id,
                now=now,
            )  # fmt: skip
        await session.commit()
    except IntegrityError:
        # One of the provider's charge ids is on another record already: credited there.
        await session.rollback()
        log.warning("payment %s: charge id already credited on another payment", payment_id)
        return False
    return True


async def _credit_of(session: AsyncSession, payment_id: int, *, duplicate: bool) -> Credit:
    payment = await session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    account = await _account(session, payment.account_id)
    return Credit(
        payment_id=payment.id,
        amount=Decimal(payment.amount).quantize(CENT),
        account_number=account.number,
        balance=Decimal(account.balance).quantize(CENT),
        duplicate=duplicate,
    )


async def credit_telegram(
    session: AsyncSession,
    *,
    payload: str,
    total_amount: int,
    currency: str,
    telegram_payment_charge_id: str,
    provider_payment_charge_id: str,
    telegram_user_id: int,
    now: datetime,
) -> Credit:
    """A `successful_payment` message: the money is taken, so credit it — once per charge id.
    A repeated message finds the credit already made and returns it as a duplicate."""
    payment = await session.scalar(
        select(Payment).where(
            or_(
                Payment.payload == payload,
                Payment.telegram_payment_charge_id == telegram_payment_charge_id,
            )
        )
    )
    if payment is None:
        session.add(
            AuditEvent(
                at=now, action="payment_unmatched", telegram_user_id=telegram_user_id,
                entity="payment", details={
                    "amount": f"{rubles(total_amount):.2f}", "currency": currency,
                    "telegram_payment_charge_id": telegram_payment_charge_id,
                    "provider_payment_charge_id": provider_payment_charge_id,
                },
            )
        )  # fmt: skip
        await session.commit()
        raise PaymentNotFound(payload)
    payment_id = payment.id
    credited = await _credit(
        session,
        payment,
        rubles(total_amount),
        now=now,
        telegram_payment_charge_id=telegram_payment_charge_id,
        provider_payment_charge_id=provider_payment_charge_id,
    )
    return await _credit_of(session, payment_id, duplicate=not credited)


# --- YooKassa link payments --------------------------------------------------------------------


class LinkState(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    state: LinkState
    payment: StartedPayment
    credit: Credit | None = None  # set once succeeded
    credited_now: bool = False


async def _match(session: AsyncSession, provider: ProviderPayment) -> Payment | None:
    """Our record of a YooKassa payment: by its id, else by the payload we put in its metadata."""
    payment = await session.scalar(
        select(Payment).where(Payment.provider_payment_charge_id == provider.id)
    )
    if payment is not None:
        return payment
    payload = provider.metadata.get("payload")
    if not payload:
        return None
    record = await session.scalar(select(Payment).where(Payment.payload == payload))
    if record is None or record.channel != PaymentChannel.YOOKASSA_LINK:
        return None
    known = record.provider_payment_charge_id
    if known is not None and known != provider.id:
        return None  # the metadata names a record of another YooKassa payment: not ours
    return record


async def apply_provider_payment(
    session: AsyncSession, provider: ProviderPayment, *, now: datetime, notify: bool
) -> LinkOutcome | None:
    """Bring our record in line with what YooKassa's API reported; None = not one of ours."""
    payment = await _match(session, provider)
    if payment is None:
        return None
    payment_id = payment.id
    credited = False
    if provider.succeeded and provider.currency == CURRENCY:
        credited = await _credit(
            session,
            payment,
            provider.amount,
            now=now,
            provider_payment_charge_id=provider.id,
            method=provider.method,
            notify=notify,
        )
    elif provider.canceled and payment.status == PaymentStatus.PENDING:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.status == PaymentStatus.PENDING)
            .values(status=PaymentStatus.CANCELED)
        )
        session.add(
            AuditEvent(
                at=now, action="payment_canceled", login_id=payment.login_id,
                telegram_user_id=payment.telegram_user_id, entity="payment",
                entity_id=str(payment_id), details={"provider_payment_charge_id": provider.id},
            )
        )  # fmt: skip
        await session.commit()
    return await _outcome(session, payment_id, credited_now=credited)


async def _outcome(session: AsyncSession, payment_id: int, *, credited_now: bool) -> LinkOutcome:
    payment = await session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    started = await _started(session, payment)
    if payment.status == PaymentStatus.SUCCEEDED:
        credit = await _credit_of(session, payment_id, duplicate=not credited_now)
        return LinkOutcome(LinkState.SUCCEEDED, started, credit, credited_now)
    if payment.status == PaymentStatus.CANCELED:
        return LinkOutcome(LinkState.CANCELED, started)
    return LinkOutcome(LinkState.PENDING, started)


async def refresh_link(
    session: AsyncSession,
    gateway: YooKassaGateway | None,
    *,
    payload: str,
    telegram_user_id: int,
    now: datetime,
) -> LinkOutcome:
    """The payer is back in the chat (deep link or «Проверить оплату»): ask YooKassa now."""
    payment = await session.scalar(select(Payment).where(Payment.payload == payload))
    if (
        payment is None
        or payment.channel != PaymentChannel.YOOKASSA_LINK
        or payment.telegram_user_id != telegram_user_id
    ):
        raise PaymentNotFound(payload)
    payment_id, provider_id = payment.id, payment.provider_payment_charge_id
    if payment.status != PaymentStatus.PENDING or provider_id is None or gateway is None:
        return await _outcome(session, payment_id, credited_now=False)
    provider = await gateway.get_payment(provider_id)
    outcome = await apply_provider_payment(session, provider, now=now, notify=False)
    return outcome or await _outcome(session, payment_id, credited_now=False)


class NotificationResult(enum.StrEnum):
    CREDITED = "credited"
    UNCHANGED = "unchanged"  # already in line (a repeat), still pending, or cancelled
    UNKNOWN = "unknown"  # YooKassa has no such payment, or it is not one of ours
    IGNORED = "ignored"  # not about a payment (refunds, payouts, …) or unreadable


async def handle_notification(
    session: AsyncSession, gateway: YooKassaGateway, body: Any, *, now: datetime
) -> NotificationResult:
    """YooKassa's HTTP notification: only the payment id is taken from it; the state comes from
    re-reading the payment from the API, so a forged or replayed body changes nothing."""
    if not isinstance(body, dict) or body.get("type") != "notification":
        return NotificationResult.IGNORED
    event, obj = body.get("event"), body.get("object")
    if not isinstance(event, str) or not event.startswith("payment."):
        return NotificationResult.IGNORED
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
        return NotificationResult.IGNORED
    try:
        provider = await gateway.get_payment(obj["id"])
    except ProviderPaymentNotFound:
        log.warning("notification about a payment YooKassa does not know")
        return NotificationResult.UNKNOWN
    outcome = await apply_provider_payment(session, provider, now=now, notify=True)
    if outcome is None:
        return NotificationResult.UNKNOWN
    return NotificationResult.CREDITED if outcome.credited_now else NotificationResult.UNCHANGED


async def poll_pending(
    session: AsyncSession,
    gateway: YooKassaGateway,
    *,
    now: datetime,
    max_age: timedelta = POLL_MAX_AGE,
    limit: int = POLL_BATCH,
) -> int:
    """The fallback for lost notifications: re-read the pending link payments of the last days.
    Returns how many changed state (credited or cancelled)."""
    rows = (
        await session.execute(
            select(Payment.id, Payment.provider_payment_charge_id)
            .where(
                Payment.status == PaymentStatus.PENDING,
                Payment.channel == PaymentChannel.YOOKASSA_LINK,
                Payment.provider_payment_charge_id.is_not(None),
                Payment.created_at >= now - max_age,
            )
            .order_by(Payment.created_at)
            .limit(limit)
        )
    ).all()
    await session.commit()  # do not hold a transaction open across the API calls
    changed = 0
    for _, provider_id in rows:
        assert provider_id is not None
        try:
            provider = await gateway.get_payment(provider_id)
        except ProviderPaymentNotFound:
            log.warning("pending payment unknown to YooKassa")
            continue
        outcome = await apply_provider_payment(session, provider, now=now, notify=True)
        if outcome is not None and outcome.state != LinkState.PENDING:
            changed += 1
    return changed


# --- history -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    amount: Decimal
    account_number: str
    period: date | None
    bill_number: str | None
    channel: PaymentChannel
    method: str | None
    status: PaymentStatus


async def history(session: AsyncSession, login_id: int, *, now: datetime) -> list[HistoryEntry]:
    """Payments of the login's accounts over the last 12 months, newest first: credited ones,
    and link payments started (pending or cancelled); unpaid Telegram invoices are not payments."""
    when = func.coalesce(Payment.paid_at, Payment.created_at)
    rows = (
        await session.execute(
            select(Payment, Account.number, Charge.period, Charge.number)
            .join(Account, Account.id == Payment.account_id)
            .join(AccountLink, AccountLink.account_id == Payment.account_id)
            .outerjoin(Charge, Charge.id == Payment.charge_id)
            .where(
                AccountLink.login_id == login_id,
                or_(
                    Payment.status == PaymentStatus.SUCCEEDED,
                    Payment.provider_payment_charge_id.is_not(None),
                ),
                Payment.created_at >= now - timedelta(days=HISTORY_DAYS),
            )
            .order_by(when.desc(), Payment.id.desc())
            .limit(HISTORY_LIMIT)
        )
    ).all()
    return [
        HistoryEntry(
            at=payment.paid_at or payment.created_at,
            amount=Decimal(payment.amount).quantize(CENT),
            account_number=number,
            period=period,
            bill_number=bill_number,
            channel=payment.channel,
            method=payment.method,
            status=payment.status,
        )
        for payment, number, period, bill_number in rows
    ]
