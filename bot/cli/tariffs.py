"""`python -m bot tariffs` lists the tariff book; `tariffs add …` adds a price from a date."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import apply_migrations, create_engine, create_session_factory
from bot.settings import Settings
from bot.texts import bills as texts
from services import tariffs
from services.registry import parse_date

NAME = "tariffs"
HELP = "тарифы: список, добавить новый (tariffs add)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ДЕЙСТВИЕ", title="действия")
    add = sub.add_parser(
        "add",
        help="добавить тариф с даты",
        description="Добавить цену за кВт·ч для зоны с первого числа месяца.",
    )
    add.add_argument(
        "--zone-scheme", required=True, type=int, choices=(1, 2, 3), metavar="1|2|3",
        help="число зон счётчика: 1 — однотарифный, 2 — двухзонный (день/ночь), 3 — трёхзонный (пик/ночь/полупик)",
    )  # fmt: skip
    add.add_argument(
        "--zone", required=True, type=int, metavar="N", help="зона: 1 (Т1), 2 (Т2), 3 (Т3)"
    )
    add.add_argument("--price", required=True, metavar="ЦЕНА", help="₽ за кВт·ч, например 6,43")
    add.add_argument(
        "--from", dest="start", required=True, metavar="ДД.ММ.ГГГГ",
        help="с какого дня действует (первое число месяца)",
    )  # fmt: skip
    add.add_argument("--name", default=None, metavar="НАЗВАНИЕ", help="как назвать тариф")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    await apply_migrations(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            if args.action == "add":
                return await _add(session, args)
            book = await tariffs.list_tariffs(session)
    finally:
        await engine.dispose()
    if not book:
        print(texts.TARIFFS_EMPTY)
        return 0
    print(texts.TARIFFS_HEADER)
    for tariff in book:
        print(texts.tariff_row(tariff.zone_scheme, tariff.zone, tariff.effective_from,
                               tariff.price, tariff.name))  # fmt: skip
    return 0


async def _add(session: AsyncSession, args: argparse.Namespace) -> int:
    """Exit code 0 when added, 2 with one Russian line when the tariff is refused."""
    try:
        price = tariffs.parse_price(args.price)
    except tariffs.BadPrice:
        return _refuse(texts.TARIFF_BAD_PRICE)
    try:
        start = parse_date(args.start)
    except ValueError:
        return _refuse(texts.TARIFF_BAD_DATE)
    name = args.name or texts.tariff_default_name(args.zone_scheme, args.zone)
    try:
        await tariffs.add_tariff(session, zone_scheme=args.zone_scheme, zone=args.zone,
                                 price=price, effective_from=start, name=name)  # fmt: skip
    except tariffs.BadZone:
        return _refuse(texts.TARIFF_BAD_ZONE)
    except tariffs.NotFirstOfMonth:
        return _refuse(texts.TARIFF_NOT_FIRST)
    except tariffs.TariffExists as exc:
        return _refuse(texts.tariff_exists(exc.existing.effective_from, exc.existing.price))
    except tariffs.PeriodAlreadyBilled as exc:
        return _refuse(texts.tariff_after_bills(exc.latest))
    print(texts.tariff_added(args.zone_scheme, args.zone, start, price))
    return 0


def _refuse(message: str) -> int:
    print(message, file=sys.stderr)
    return 2
