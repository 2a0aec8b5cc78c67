"""A demo supplier for trying the bot in a minute: tariffs, ~20 accounts, a year of history."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    Charge,
    ChargeLine,
    LineBasis,
    Login,
    Meter,
    Payment,
    PaymentChannel,
    PaymentStatus,
    Reading,
    ReadingSource,
    ReadingStatus,
    Subscription,
    Tariff,
    utcnow,
)
from services.passwords import hash_password
from services.periods import last_periods, period_of, shift

DEMO_EMAIL = "demo@mef.example"
DEMO_PASSWORD = "Demo2026pass"
CONSENT_VERSION = "2026-01"
CENT = Decimal("0.01")

# (zone scheme, zone) → (name, price before / after the July indexation), ₽ per kWh.
TARIFFS: dict[tuple[int, int], tuple[str, Decimal, Decimal]] = {
    (1, 1): ("Одноставочный, круглосуточно", Decimal("5.0200"), Decimal("5.6000")),
    (2, 1): ("Двухзонный, день (Т1)", Decimal("5.7800"), Decimal("6.4500")),
    (2, 2): ("Двухзонный, ночь (Т2)", Decimal("3.1500"), Decimal("3.5100")),
    (3, 1): ("Трёхзонный, пик (Т1)", Decimal("6.6500"), Decimal("7.4200")),
    (3, 2): ("Трёхзонный, ночь (Т2)", Decimal("3.1500"), Decimal("3.5100")),
    (3, 3): ("Трёхзонный, полупик (Т3)", Decimal("5.0200"), Decimal("5.6000")),
}
ZONE_SHARE = {1: (Decimal(1),), 2: (Decimal("0.7"), Decimal("0.3")),
              3: (Decimal("0.3"), Decimal("0.3"), Decimal("0.4"))}  # fmt: skip

SURNAMES = [
    ("Иванов", "Иван", "Петрович"), ("Петрова", "Анна", "Сергеевна"),
    ("Смирнов", "Алексей", "Викторович"), ("Кузнецова", "Ольга", "Ивановна"),
    ("Попов", "Дмитрий", "Андреевич"), ("Васильева", "Елена", "Николаевна"),
    ("Соколов", "Сергей", "Олегович"), ("Михайлова", "Татьяна", "Юрьевна"),
    ("Новиков", "Андрей", "Павлович"), ("Фёдорова", "Наталья", "Геннадьевна"),
    ("Морозов", "Павел", "Игоревич"), ("Волкова", "Ирина", "Александровна"),
    ("Алексеев", "Николай", "Степанович"), ("Лебедева", "Мария", "Владимировна"),
    ("Семёнов", "Виктор", "Михайлович"), ("Егорова", "Светлана", "Борисовна"),
    ("Павлов", "Артём", "Дмитриевич"), ("Козлова", "Юлия", None),
    ("Степанов", "Григорий", "Ефимович"), ("Римская-Корсакова", "Людмила", "Петровна"),
]  # fmt: skip
STREETS = ["ул. Металлургов", "пр. Победы", "ул. Сталеваров", "ул. Горького", "ул. Энергетиков"]


@dataclass
class DemoAccount:
    number: str
    holder_surname: str
    zones: list[int]
    serials: list[str]


@dataclass
class DemoSummary:
    email: str
    password: str
    created: bool
    accounts: list[DemoAccount] = field(default_factory=list)


def _price(zone_scheme: int, zone: int, period: date) -> Decimal:
    _, before, after = TARIFFS[(zone_scheme, zone)]
    return after if period >= date(period.year, 7, 1) else before


async def seed_demo_data(session: AsyncSession, *, today: date | None = None) -> DemoSummary:
    """Idempotent: a second run reports what is there and changes nothing."""
    today = today or date.today()
    rng = random.Random(2026)
    summary = DemoSummary(DEMO_EMAIL, DEMO_PASSWORD, created=False)
    existing = await session.scalar(select(Login).where(Login.email == DEMO_EMAIL))
    if existing is None:
        await _seed(session, rng, today)
        summary.created = True
    accounts = (await session.scalars(select(Account).order_by(Account.id))).all()
    for account in accounts:
        meters = (
            await session.scalars(
                select(Meter).where(Meter.account_id == account.id).order_by(Meter.id)
            )
        ).all()
        summary.accounts.append(
            DemoAccount(
                account.number,
                account.holder_surname,
                [m.zones for m in meters],
                [m.serial_number for m in meters],
            )
        )
    return summary


async def _seed(session: AsyncSession, rng: random.Random, today: date) -> None:
    for year in (today.year - 1, today.year):
        for (scheme, zone), (name, before, after) in TARIFFS.items():
            for start, price in ((date(year, 1, 1), before), (date(year, 7, 1), after)):
                exists = await session.scalar(
                    select(Tariff.id).where(
                        Tariff.zone_scheme == scheme,
                        Tariff.zone == zone,
                        Tariff.effective_from == start,
                    )
                )
                if exists is None:
                    session.add(
                        Tariff(
                            zone_scheme=scheme,
                            zone=zone,
                            name=name,
                            price=price,
                            effective_from=start,
                        )
                    )
    periods = sorted(last_periods(today, 12))
    first_account: Account | None = None
    for index, (surname, name, patronymic) in enumerate(SURNAMES):
        account = Account(
            number=f"74{rng.randrange(10**7, 10**8):08d}",
            holder_surname=surname,
            holder_name=name,
            holder_patronymic=patronymic,
            address=f"г. Магнитогорск, {rng.choice(STREETS)}, д. {rng.randint(1, 120)}"
            + (f", кв. {rng.randint(1, 200)}" if index % 3 else ""),
        )
        session.add(account)
        await session.flush()
        first_account = first_account or account
        schemes = [1 if index < 10 else 2 if index < 16 else 3]
        if index in (0, 12):
            schemes.append(1)  # a second meter: garage or outbuilding
        lines_by_period: dict[date, list[ChargeLine]] = {period: [] for period in periods}
        for scheme in schemes:
            meter = Meter(
                account_id=account.id,
                serial_number=f"{rng.randrange(10**7, 10**8)}",
                zones=scheme,
                digits=rng.choice((5, 6)),
                verified_until=(today - timedelta(days=40)) if index == 5 else
                date(today.year + rng.randint(1, 8), rng.randint(1, 12), 1),
            )  # fmt: skip
            session.add(meter)
            await session.flush()
            initial = Decimal(rng.randint(1000, 30000))
            values = [(initial * share).quantize(CENT) for share in ZONE_SHARE[scheme]]
            _readings(session, rng, meter, periods, values, lines_by_period)
        account.balance = await _bills(session, rng, account, lines_by_period)
    await session.flush()
    login = Login(
        email=DEMO_EMAIL,
        phone="+79991234567",
        surname="Демонстрационный",
        name="Абонент",
        patronymic=None,
        password_hash=await hash_password(DEMO_PASSWORD),
        activated_at=utcnow(),
        consent_version=CONSENT_VERSION,
        consent_at=utcnow(),
    )
    session.add(login)
    await session.flush()
    assert first_account is not None
    session.add(AccountLink(login_id=login.id, account_id=first_account.id, is_current=True))
    session.add(Subscription(login_id=login.id))
    await session.commit()


def _readings(
    session: AsyncSession,
    rng: random.Random,
    meter: Meter,
    periods: list[date],
    values: list[Decimal],
    lines_by_period: dict[date, list[ChargeLine]],
) -> None:
    """A year of monthly readings of one meter, and the bill lines they make."""
    for period in periods:
        monthly = Decimal(rng.randint(120, 420)) * (
            Decimal("1.4") if period.month in (12, 1, 2) else 1
        )
        estimated = rng.random() < 0.08
        for zone, share in enumerate(ZONE_SHARE[meter.zones], start=1):
            previous = values[zone - 1]
            consumption = (monthly * share).quantize(CENT)
            values[zone - 1] = previous + consumption
            session.add(
                Reading(
                    meter_id=meter.id,
                    zone=zone,
                    period=period,
                    value=values[zone - 1],
                    source=ReadingSource.ESTIMATED if estimated else ReadingSource.BILLING,
                    status=ReadingStatus.ESTIMATED if estimated else ReadingStatus.ACCEPTED,
                    taken_on=period.replace(day=rng.randint(15, 25)),
                )
            )
            price = _price(meter.zones, zone, period)
            lines_by_period[period].append(
                ChargeLine(
                    meter_id=meter.id, zone=zone, previous_value=previous,
                    current_value=values[zone - 1], consumption=consumption, price=price,
                    amount=(consumption * price).quantize(CENT),
                    basis=LineBasis.AVERAGE if estimated else LineBasis.READING,
                )
            )  # fmt: skip


async def _bills(
    session: AsyncSession,
    rng: random.Random,
    account: Account,
    lines_by_period: dict[date, list[ChargeLine]],
) -> Decimal:
    """One bill a month, issued the day after the reading window (as the billing run does);
    most months the previous bill was paid in full a few days after it came. Returns the debt.

    The year's bills of an account are written in one flush (a flush per bill made the demo
    data, which most end-to-end tests seed, the slowest part of the suite)."""
    balance = Decimal(0)
    charges: list[Charge] = []
    payments: list[tuple[int | None, Payment]] = []  # (index of the bill it pays, payment)
    for period, lines in sorted(lines_by_period.items()):
        charged = sum((line.amount for line in lines), Decimal(0))
        paid = balance if rng.random() < 0.85 else Decimal(0)
        issued_at = datetime(period.year, period.month, 26, tzinfo=UTC)
        if paid > 0:
            payment = Payment(
                account_id=account.id, amount=paid, channel=PaymentChannel.TELEGRAM,
                status=PaymentStatus.SUCCEEDED, payload=f"demo-{account.number}-{period:%Y%m}",
                paid_at=datetime(period.year, period.month, rng.randint(2, 14), tzinfo=UTC),
            )  # fmt: skip
            payments.append((len(charges) - 1 if charges else None, payment))
        charge = Charge(
            account_id=account.id, period=period, number=f"{account.number}-{period:%Y%m}",
            opening_balance=balance, charged=charged, paid=paid,
            total_due=balance - paid + charged, due_date=shift(period, 1).replace(day=10),
            created_at=issued_at,
        )  # fmt: skip
        charge.lines = lines
        charges.append(charge)
        balance = charge.total_due
    session.add_all(charges)
    await session.flush()
    for index, payment in payments:
        payment.charge_id = charges[index].id if index is not None else None
        session.add(payment)
    return balance


__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "DemoSummary", "period_of", "seed_demo_data"]
