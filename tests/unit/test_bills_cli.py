"""`python -m bot bill | tariffs | receipts`, run as the operator runs them: a real process on a
SQLite file, Russian messages and exit codes, progress and summary on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pypdf
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import create_engine, create_session_factory
from bot.texts import bills as texts
from services import billing
from services.periods import shift
from tests.unit.test_billing import account, read, tariffs
from tests.unit.test_receipts import SUPPLIER

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WINDOW = (15, 25)
# The command uses the real clock: bill the newest period that is closed today.
PERIOD = billing.last_closed_period(date.today(), WINDOW)
SUPPLIER_ENV = {
    "SUPPLIER_NAME": SUPPLIER.name,
    "SUPPLIER_INN": SUPPLIER.inn,
    "SUPPLIER_KPP": SUPPLIER.kpp,
    "SUPPLIER_ACCOUNT": SUPPLIER.account,
    "SUPPLIER_BANK": SUPPLIER.bank,
    "SUPPLIER_BIC": SUPPLIER.bic,
    "SUPPLIER_CORR_ACCOUNT": SUPPLIER.corr_account,
}


def cli(db_url: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPLIER_", "BOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,  # no .env there
        env={**clean, "DATABASE_URL": db_url, "READING_WINDOW": "15-25", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _arrange(session: AsyncSession) -> None:
    await tariffs(session, start=shift(PERIOD, -12))
    _, first = await account(session, "7400000001")
    await read(session, first, shift(PERIOD, -1), "1000")
    await read(session, first, PERIOD, "1100")
    _, second = await account(session, "7400000002", zones=2)
    await read(session, second, shift(PERIOD, -1), "500", "200")
    await read(session, second, PERIOD, "600", "250")
    _, lonely = await account(session, "7400000003")
    await read(session, lonely, shift(PERIOD, -1), "10")  # no reading now, no history


async def _arranged(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with create_session_factory(engine)() as session:
            await _arrange(session)
    finally:
        await engine.dispose()


async def test_bill_runs_once_and_reports_what_it_could_not_bill(
    db_url: str, tmp_path: Path
) -> None:
    await _arranged(db_url)
    first = cli(db_url, tmp_path, "bill", "--period", f"{PERIOD:%Y-%m}")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "выставлено счетов: 2" in first.stderr
    assert "по показаниям: 2" in first.stderr
    assert "не выставлено: 1" in first.stderr
    assert "лицевой счёт 7400000003: счётчик № S7400000003: нет показания за период" in first.stderr
    # 100 kWh × 5,60 + 100 × 6,45 + 50 × 3,51 = 560 + 645 + 175,50
    assert "начислено всего: 1 380,50 ₽" in first.stderr
    again = cli(db_url, tmp_path, "bill", "--period", f"{PERIOD:%Y-%m}")
    assert again.returncode == 0
    assert "выставлено счетов: 0" in again.stderr
    assert "уже были выставлены раньше: 2" in again.stderr


async def test_bill_refuses_a_wrong_or_open_period(db_url: str, tmp_path: Path) -> None:
    wrong = cli(db_url, tmp_path, "bill", "--period", "2026-13")
    assert (wrong.returncode, wrong.stderr.strip()) == (2, texts.BAD_PERIOD)
    future = shift(PERIOD, 2)
    early = cli(db_url, tmp_path, "bill", "--period", f"{future:%Y-%m}")
    assert early.returncode == 2
    assert "можно выставить с" in early.stderr and "Traceback" not in early.stderr


async def test_tariffs_are_listed_and_added_with_validation(db_url: str, tmp_path: Path) -> None:
    await _arranged(db_url)
    listing = cli(db_url, tmp_path, "tariffs")
    assert listing.returncode == 0
    assert "двухзонный" in listing.stdout and "6,4500" in listing.stdout
    start = shift(PERIOD, 2)
    base = ["tariffs", "add", "--zone-scheme", "2", "--zone", "1", "--from", f"{start:%d.%m.%Y}"]
    cases = [
        (["--price", "0"], texts.TARIFF_BAD_PRICE),
        (["--price", "6,43215"], texts.TARIFF_BAD_PRICE),
        (["--price", "дорого"], texts.TARIFF_BAD_PRICE),
    ]
    for extra, message in cases:
        result = cli(db_url, tmp_path, *base, *extra)
        assert (result.returncode, result.stderr.strip()) == (2, message), extra
    bad_zone = cli(db_url, tmp_path, "tariffs", "add", "--zone-scheme", "2", "--zone", "3",
                   "--price", "6,43", "--from", f"{start:%d.%m.%Y}")  # fmt: skip
    assert bad_zone.stderr.strip() == texts.TARIFF_BAD_ZONE
    mid_month = cli(db_url, tmp_path, "tariffs", "add", "--zone-scheme", "1", "--zone", "1",
                    "--price", "6,43", "--from", f"{start.replace(day=15):%d.%m.%Y}")  # fmt: skip
    assert mid_month.stderr.strip() == texts.TARIFF_NOT_FIRST
    added = cli(db_url, tmp_path, *base, "--price", "6,4321")
    assert added.returncode == 0, added.stderr
    assert "Тариф добавлен: двухзонный счётчик, зона Т1, 6,4321 ₽/кВт·ч" in added.stdout
    twice = cli(db_url, tmp_path, *base, "--price", "7")
    assert twice.returncode == 2 and "Тарифы не пересекаются" in twice.stderr
    assert "Двухзонный, Т1 день" in cli(db_url, tmp_path, "tariffs").stdout
    assert cli(db_url, tmp_path, "bill", "--period", f"{PERIOD:%Y-%m}").returncode == 0
    into_billed = cli(db_url, tmp_path, "tariffs", "add", "--zone-scheme", "1", "--zone", "1",
                      "--price", "6", "--from", f"{PERIOD:%d.%m.%Y}")  # fmt: skip
    assert into_billed.returncode == 2
    assert into_billed.stderr.strip() == texts.tariff_after_bills(PERIOD)


async def test_receipts_are_written_once_per_changed_bill(db_url: str, tmp_path: Path) -> None:
    await _arranged(db_url)
    out = tmp_path / "receipts"
    no_supplier = cli(
        db_url, tmp_path, "receipts", "--period", f"{PERIOD:%Y-%m}", "--out", str(out)
    )
    assert (no_supplier.returncode, no_supplier.stderr.strip()) == (2, texts.NO_SUPPLIER)
    none_yet = cli(db_url, tmp_path, "receipts", "--period", f"{PERIOD:%Y-%m}", "--out", str(out),
                   **SUPPLIER_ENV)  # fmt: skip
    assert none_yet.returncode == 2 and "сначала выставьте их" in none_yet.stderr
    assert cli(db_url, tmp_path, "bill", "--period", f"{PERIOD:%Y-%m}").returncode == 0
    args = ["receipts", "--period", f"{PERIOD:%Y-%m}", "--out", str(out), "--workers", "2"]
    first = cli(db_url, tmp_path, *args, **SUPPLIER_ENV)
    assert first.returncode == 0, first.stderr
    assert "новых или изменённых — 2" in first.stderr
    files = sorted(p.name for p in out.glob("*.pdf"))
    assert files == [f"Квитанция_7400000001_{PERIOD:%Y-%m}.pdf",
                     f"Квитанция_7400000002_{PERIOD:%Y-%m}.pdf"]  # fmt: skip
    text = pypdf.PdfReader(out / files[0]).pages[0].extract_text()
    assert "7400000001" in text and "560,00" in text.replace("\u00a0", " ")
    stamp = (out / files[0]).stat().st_mtime_ns
    second = cli(db_url, tmp_path, *args, **SUPPLIER_ENV)
    assert "новых или изменённых — 0" in second.stderr
    assert "без изменений (оставлены как были) — 2" in second.stderr
    assert (out / files[0]).stat().st_mtime_ns == stamp
