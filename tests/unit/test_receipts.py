"""PDF receipts: the text a reader extracts and the payment QR code a banking app decodes."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pypdf
import pypdfium2
import pytest
import zxingcpp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import bills as texts
from bot.texts import fmt
from models import LineBasis
from services import billing, receipts
from services.periods import shift
from tests.unit.test_billing import NOV, account, moment, pay, read, run, tariffs

SUPPLIER = receipts.Supplier(
    name="ООО «Металлэнергофинанс»",
    inn="7445000128",
    kpp="744501001",
    account="40702810672000012345",
    bank="Челябинское отделение № 8597 ПАО Сбербанк",
    bic="047501602",
    corr_account="30101810700000000602",
)


def pdf_text(data: bytes) -> str:
    """What a person copying text from the PDF gets, with spacing normalised."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def decode_qr(data: bytes) -> str:
    """Render the first page to an image, as a phone camera would see it, and decode the QR."""
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=3).to_pil()
    finally:
        document.close()
    found = zxingcpp.read_barcodes(image)
    qr = [code for code in found if code.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(qr) == 1, f"expected one QR code, found {found}"
    return str(qr[0].text)


def plain(text: str) -> str:
    return text.replace(fmt.NBSP, " ")


async def _billed(session: AsyncSession) -> tuple[int, int]:
    await tariffs(session)
    acc, meter = await account(session, balance="120.50")
    await read(session, meter, shift(NOV, -1), "1000")
    await read(session, meter, NOV, "1150.50")
    await run(session, NOV)
    [state] = await billing.bill_statuses(session, acc.id)
    return acc.id, state.charge_id


async def test_receipt_shows_the_bill_in_russian(session: AsyncSession) -> None:
    account_id, charge_id = await _billed(session)
    receipt = await receipts.receipt_for_bill(
        session, account_id, charge_id, SUPPLIER, texts.receipt_text
    )
    assert receipt.filename == "Квитанция_7400000001_2026-11.pdf"
    assert receipt.data.startswith(b"%PDF")
    text = pdf_text(receipt.data)
    for fragment in (
        "Счёт-квитанция № 7400000001-202611 за ноябрь 2026",
        "Плательщик: Иванов Иван Петрович",
        "Адрес: г. Магнитогорск, ул. Ленина, д. 1",
        "Получатель: ООО «Металлэнергофинанс»",
        "ИЗВЕЩЕНИЕ",
        "КВИТАНЦИЯ",
        "Лицевой счёт: 7400000001",
        "1 000,00",
        "1 150,50",
        "150,50",
        "5,60",
        "842,80",  # 150,5 kWh × 5,60 ₽
        "Задолженность на начало периода 120,50 ₽",
        "Итого к оплате до 10.12.2026 963,30 ₽",
        "Сумма к оплате: 963,30 ₽",
    ):
        assert fragment in plain(text), fragment


async def test_qr_code_carries_the_printed_sum_and_account(session: AsyncSession) -> None:
    account_id, charge_id = await _billed(session)
    receipt = await receipts.receipt_for_bill(
        session, account_id, charge_id, SUPPLIER, texts.receipt_text
    )
    payload = decode_qr(receipt.data)
    assert payload.startswith("ST00012|")
    fields = receipts.parse_qr_payload(payload)
    assert fields == {
        "Name": "ООО «Металлэнергофинанс»",
        "PersonalAcc": "40702810672000012345",
        "BankName": "Челябинское отделение № 8597 ПАО Сбербанк",
        "BIC": "047501602",
        "CorrespAcc": "30101810700000000602",
        "PayeeINN": "7445000128",
        "KPP": "744501001",
        "Sum": "96330",
        "PersAcc": "7400000001",
        "Purpose": "Оплата электроэнергии за ноябрь 2026, л/с 7400000001",
        "PaymPeriod": "112026",
    }
    text = plain(pdf_text(receipt.data))
    printed = re.search(r"Сумма к оплате: ([\d ]+),(\d\d) ₽", text)
    assert printed is not None
    assert int(printed[1].replace(" ", "")) * 100 + int(printed[2]) == int(fields["Sum"])
    assert f"Лицевой счёт: {fields['PersAcc']}" in text


async def test_a_partly_paid_bill_asks_for_the_rest(session: AsyncSession) -> None:
    account_id, charge_id = await _billed(session)
    from models import Account

    acc = await session.get(Account, account_id)
    assert acc is not None
    await pay(session, acc, "500", moment(date(2026, 11, 28)))
    first = await receipts.receipt_for_bill(
        session, account_id, charge_id, SUPPLIER, texts.receipt_text
    )
    text = plain(pdf_text(first.data))
    assert "Оплачено после выставления счёта 500,00 ₽" in text
    assert "Осталось оплатить 463,30 ₽" in text and "Сумма к оплате: 463,30 ₽" in text
    assert receipts.parse_qr_payload(decode_qr(first.data))["Sum"] == "46330"
    await pay(session, acc, "463.30", moment(date(2026, 11, 29)))
    paid = await receipts.receipt_for_bill(
        session, account_id, charge_id, SUPPLIER, texts.receipt_text
    )
    assert paid.version != first.version
    assert "Sum" not in receipts.parse_qr_payload(decode_qr(paid.data))


async def test_another_accounts_bill_is_not_found(session: AsyncSession) -> None:
    _, charge_id = await _billed(session)
    other, _ = await account(session, "7400000009")
    with pytest.raises(billing.BillNotFound):
        await receipts.receipt_data(session, other.id, charge_id, SUPPLIER)


async def test_period_receipts_read_every_bill_in_batches(session: AsyncSession) -> None:
    await tariffs(session)
    for index in range(5):
        _, meter = await account(session, f"74000000{index:02d}")
        await read(session, meter, shift(NOV, -1), "1000")
        await read(session, meter, NOV, f"{1010 + index}")
    await run(session, NOV)
    batches = [b async for b in receipts.period_receipts(session, NOV, SUPPLIER, batch_size=2)]
    assert [len(b) for b in batches] == [2, 2, 1]
    amounts = [r.to_pay for b in batches for r in b]
    assert amounts == [Decimal("56.00") + Decimal("5.60") * i for i in range(5)]


def test_bare_document_uses_the_same_embedded_font() -> None:
    data = receipts.bare_document("Проверка шрифта: Ёё Щщ ₽ №")
    assert "Проверка шрифта: Ёё Щщ ₽ №" in pdf_text(data)
    assert b"DejaVuSansCondensed" in data


def _sample(payer: str = "Иванов Иван Петрович") -> receipts.ReceiptData:
    line = billing.BillLine("S1", 1, 1, Decimal(1000), Decimal("1150.5"), Decimal("150.5"),
                            Decimal("5.60"), Decimal("842.80"), LineBasis.READING, None)  # fmt: skip
    return receipts.ReceiptData(
        supplier=SUPPLIER, charge_id=1, account_number="7400000001", payer=payer,
        address="г. Магнитогорск, ул. Ленина, д. 1", period=NOV, number="7400000001-202611",
        issued_on=date(2026, 11, 26), due_date=date(2026, 12, 10), lines=(line,),
        opening_balance=Decimal(0), paid_in_period=Decimal(0), charged=Decimal("842.80"),
        total_due=Decimal("842.80"), paid_since=Decimal(0), to_pay=Decimal("842.80"),
    )  # fmt: skip


def test_the_shared_font_subset_is_the_version_it_was_written_for() -> None:
    """The receipt embeds a font subset made once per process through fpdf2's internals
    (`_add_fonts` of fpdf/output.py): on another fpdf2 it falls back to fpdf2's own path. If
    this fails after an upgrade, compare `_font_output` with fpdf2's new `_add_fonts`."""
    import fpdf

    assert fpdf.FPDF_VERSION == receipts.FPDF_TESTED
    assert receipts._fast_fonts()


def test_receipts_with_the_shared_subset_read_as_with_fpdf2s_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Letters outside the common set (Tatar «Ә», «ү», Latin «é») get a wider subset; every
    document of the process, before and after, still reads and decodes the same."""
    payers = ("Иванов Иван Петрович", "Хәйруллина Гүзәл Рәшитовна", "Léa Ёлкина",
              "Иванов Иван Петрович")  # fmt: skip
    fast = [receipts.render(texts.receipt_text(_sample(payer))) for payer in payers]
    monkeypatch.setattr(receipts, "_fast_fonts", lambda: False)
    slow = [receipts.render(texts.receipt_text(_sample(payer))) for payer in payers]
    for payer, mine, theirs in zip(payers, fast, slow, strict=True):
        assert pdf_text(mine) == pdf_text(theirs)
        assert f"Плательщик: {payer}" in pdf_text(mine)
        assert decode_qr(mine) == decode_qr(theirs)
    assert fast[0] != slow[0]  # the other path, indeed


def test_the_cache_keeps_recent_versions_only() -> None:
    cache = receipts.ReceiptCache(size=2)
    first = receipts.Receipt(b"%PDF-1", "a.pdf", "v1")
    cache.put(first, 1)
    assert cache.get(1, "v1") == (first, None)
    assert cache.get(1, "v2") is None  # the bill changed: render again
    cache.put(receipts.Receipt(b"%PDF-2", "b.pdf", "v1"), 2, "file-2")
    cache.put(receipts.Receipt(b"%PDF-3", "c.pdf", "v1"), 3)
    assert cache.get(1, "v1") is None  # the oldest went
    hit = cache.get(2, "v1")
    assert hit is not None and hit[1] == "file-2"
    for charge_id in range(10):
        cache.lock(charge_id, "v1")
    assert len(cache._locks) <= 2 * cache.size + 1
