"""PDF receipts (счёт-квитанция) with a payment QR code per ГОСТ Р 56042-2014.

Three steps, so each runs where it should:
- `receipt_data` / `period_receipts` read a bill from the database (async, cheap);
- the caller turns the facts into the strings to print (`bot.texts.bills.receipt_text`: every
  Russian word lives in the texts catalogue);
- `render` lays the strings out with fpdf2 and draws the QR with segno. It is plain blocking
  code with lazy imports, run off the event loop (a thread in the bot, worker processes in the
  CLI), so the bot's per-update cost does not include fpdf2 or fontTools.

The font is DejaVu Sans Condensed shipped in `services/fonts` (subset to Latin and Cyrillic;
see its LICENSE); nothing is read from the operating system or downloaded.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import logging
import re
import time
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Account, Charge, ChargeLine, Meter, Payment, PaymentStatus
from services.billing import BillDetail, BillLine, _states, bill_detail

if TYPE_CHECKING:
    from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILE = FONT_DIR / "DejaVuSansCondensed.ttf"
FAMILY = "DejaVu"
MASK = 2
QR_HEADER = "ST00012"  # ГОСТ Р 56042-2014, format version 0001, encoding 2 = UTF-8
PURPOSE_LIMIT = 210


@dataclass(frozen=True, slots=True)
class Supplier:
    """The payee's requisites, from the settings (SUPPLIER_*)."""

    name: str
    inn: str
    kpp: str
    account: str
    bank: str
    bic: str
    corr_account: str


@dataclass(frozen=True, slots=True)
class ReceiptData:
    """The facts printed on one receipt."""

    supplier: Supplier
    charge_id: int
    account_number: str
    payer: str
    address: str
    period: date
    number: str
    issued_on: date
    due_date: date
    lines: tuple[BillLine, ...]
    opening_balance: Decimal
    paid_in_period: Decimal
    charged: Decimal
    total_due: Decimal
    paid_since: Decimal  # credited toward this bill after it was issued
    to_pay: Decimal  # what the QR code asks for

    @property
    def kopecks(self) -> int:
        return int((self.to_pay * 100).to_integral_value())


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """Every string of the receipt, already formatted; `render` only places them."""

    filename: str
    title: str
    subtitle: str
    notice: str  # «ИЗВЕЩЕНИЕ»
    receipt: str  # «КВИТАНЦИЯ»
    qr_caption: str
    payee_lines: tuple[str, ...]
    payer_lines: tuple[str, ...]
    sum_line: str
    due_line: str
    signature: str
    table_title: str
    table_header: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]
    totals: tuple[tuple[str, str, bool], ...]  # (label, amount, bold)
    notes: tuple[str, ...]
    qr_payload: str
    author: str


@dataclass(frozen=True, slots=True)
class Receipt:
    data: bytes
    filename: str
    version: str


def _clean(value: str) -> str:
    """QR fields are separated by «|»: keep it (and line breaks) out of the values."""
    return re.sub(r"[|\r\n]+", " ", value).strip()


def qr_payload(data: ReceiptData, purpose: str) -> str:
    """The payment QR string of ГОСТ Р 56042-2014 (UTF-8 variant) a Russian banking app reads."""
    s = data.supplier
    fields = [
        ("Name", s.name),
        ("PersonalAcc", s.account),
        ("BankName", s.bank),
        ("BIC", s.bic),
        ("CorrespAcc", s.corr_account),
        ("PayeeINN", s.inn),
        ("KPP", s.kpp),
    ]
    if data.kopecks > 0:
        fields.append(("Sum", str(data.kopecks)))
    fields += [
        ("PersAcc", data.account_number),
        ("Purpose", purpose[:PURPOSE_LIMIT]),
        ("PaymPeriod", f"{data.period:%m%Y}"),
    ]
    return "|".join([QR_HEADER, *(f"{key}={_clean(value)}" for key, value in fields)])


def parse_qr_payload(text: str) -> dict[str, str]:
    """The fields of a ГОСТ Р 56042 string (for tests and support staff)."""
    header, *pairs = text.split("|")
    if header != QR_HEADER:
        raise ValueError(f"not a ГОСТ Р 56042 UTF-8 payment string: {header!r}")
    return dict(pair.split("=", 1) for pair in pairs)


def version_of(text: ReceiptText) -> str:
    """Changes whenever anything printed changes (a payment, a corrected reading, requisites)."""
    return hashlib.sha256(repr(text).encode()).hexdigest()[:16]


# --- reading bills -----------------------------------------------------------------------------


def _receipt_from(detail: BillDetail, supplier: Supplier) -> ReceiptData:
    state = detail.state
    return ReceiptData(
        supplier=supplier,
        charge_id=state.charge_id,
        account_number=detail.account_number,
        payer=detail.holder,
        address=detail.address,
        period=state.period,
        number=state.number,
        issued_on=state.issued_at.date(),
        due_date=state.due_date,
        lines=tuple(detail.lines),
        opening_balance=state.opening_balance,
        paid_in_period=state.paid_in_period,
        charged=state.charged,
        total_due=state.total_due,
        paid_since=state.paid,
        to_pay=state.to_pay,
    )


async def receipt_data(
    session: AsyncSession, account_id: int, charge_id: int, supplier: Supplier
) -> ReceiptData:
    """One bill of the account (BillNotFound for anyone else's)."""
    return _receipt_from(await bill_detail(session, account_id, charge_id), supplier)


async def period_receipts(
    session: AsyncSession, period: date, supplier: Supplier, *, batch_size: int = 500
) -> AsyncIterator[list[ReceiptData]]:
    """Every bill of a period, in batches of receipts, for print mailing."""
    last_id = 0
    while True:
        charges = list(
            await session.scalars(
                select(Charge)
                .where(Charge.period == period, Charge.id > last_id)
                .order_by(Charge.id)
                .limit(batch_size)
            )
        )
        if not charges:
            return
        last_id = charges[-1].id
        yield await _batch(session, charges, supplier)
        session.expunge_all()


async def _batch(
    session: AsyncSession, charges: list[Charge], supplier: Supplier
) -> list[ReceiptData]:
    account_ids = [c.account_id for c in charges]
    accounts = {
        a.id: a for a in await session.scalars(select(Account).where(Account.id.in_(account_ids)))
    }
    newer: dict[int, list[Charge]] = defaultdict(list)
    for later in await session.scalars(
        select(Charge)
        .where(Charge.account_id.in_(account_ids), Charge.period > charges[0].period)
        .order_by(Charge.period.desc())
    ):
        newer[later.account_id].append(later)
    payments: dict[int, list[tuple[Any, Decimal]]] = defaultdict(list)
    earliest = min(c.created_at for c in charges)
    for account_id, paid_at, amount in await session.execute(
        select(Payment.account_id, Payment.paid_at, Payment.amount).where(
            Payment.account_id.in_(account_ids),
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.paid_at.is_not(None),
            Payment.paid_at > earliest,
        )
    ):
        payments[account_id].append((paid_at, amount))
    lines: dict[int, list[BillLine]] = defaultdict(list)
    for line, serial, zones in await session.execute(
        select(ChargeLine, Meter.serial_number, Meter.zones)
        .outerjoin(Meter, Meter.id == ChargeLine.meter_id)
        .where(ChargeLine.charge_id.in_([c.id for c in charges]))
        .order_by(ChargeLine.charge_id, ChargeLine.meter_id, ChargeLine.zone, ChargeLine.id)
    ):
        lines[line.charge_id].append(
            BillLine(serial, zones or line.zone, line.zone, line.previous_value,
                     line.current_value, line.consumption, line.price, line.amount, line.basis,
                     line.corrects_period)
        )  # fmt: skip
    result = []
    for charge in charges:
        account = accounts[charge.account_id]
        chain = [*newer.get(charge.account_id, []), charge]
        state = _states(chain, payments.get(charge.account_id, []))[-1]
        detail = BillDetail(state, account.number, account.holder_full_name, account.address,
                            lines.get(charge.id, []))  # fmt: skip
        result.append(_receipt_from(detail, supplier))
    return result


# --- rendering ---------------------------------------------------------------------------------


FPDF_TESTED = "2.8.9"  # the fpdf2 whose font output `_font_output` mirrors; others: fpdf2's own
# What receipts print: ASCII, Latin-1 punctuation, the Cyrillic block, dashes and quotes, «№», «₽»,
# «−». Subset once per process; a character outside it makes a (cached) wider subset.
COMMON_CHARS = frozenset(
    [*range(0x20, 0x7F), 0xA0, 0xAB, 0xB0, 0xB7, 0xBB, *range(0x400, 0x460),
     *range(0x2010, 0x2027), 0x202F, 0x2116, 0x20BD, 0x2212]
)  # fmt: skip
# The tables fpdf2 2.8.9 drops from the fonts it embeds (fpdf/output.py, `_add_fonts`).
DROPPED_TABLES = ("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC",
                  "EBDT", "EBLC", "EBSC", "SVG ", "CPAL", "COLR")  # fmt: skip

_fonts: dict[str, Any] = {}


def _parsed_font() -> Any:
    """The font parsed by fpdf2 (metrics, cmap), once per process."""
    if not _fonts:
        from fpdf import FPDF
        from fpdf.fonts import TTFFont

        logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs every subset at INFO
        template = FPDF()
        template.add_font(FAMILY, "", str(FONT_FILE))
        font = next(iter(template.fonts.values()))
        assert isinstance(font, TTFFont)
        common = frozenset(font.cmap[c] for c in COMMON_CHARS if c in font.cmap)
        # One update, complete: the bot renders in threads.
        _fonts.update(font=font, data=FONT_FILE.read_bytes(), common=common)
    return _fonts["font"]


def _fast_fonts() -> bool:
    """Whether the font program is shared between documents (see `_font_output`)."""
    from fpdf import FPDF_VERSION

    return FPDF_VERSION == FPDF_TESTED


def _default_pdf() -> FPDF:
    """An FPDF with the embedded font, on fpdf2's own output path: the parsed font is shared per
    process, but fpdf2 subsets the font object it embeds in place, so each document gets its
    own copy, with the font file read from memory."""
    from fontTools import ttLib
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="mm")
    fresh = copy.deepcopy(_parsed_font())
    fresh.ttfont = ttLib.TTFont(io.BytesIO(_fonts["data"]), lazy=True)
    pdf.fonts[fresh.fontkey] = fresh
    return pdf


def _new_pdf() -> FPDF:
    """An FPDF with the embedded font for `_font_output`: nothing of the font is mutated there,
    so the document's font shares all but its own glyph map with the per-process one."""
    if not _fast_fonts():
        return _default_pdf()
    from fpdf import FPDF
    from fpdf.fonts import SubsetMap

    pdf = FPDF(format="A4", unit="mm")
    fresh = copy.copy(_parsed_font())
    fresh.missing_glyphs = []
    fresh.biggest_size_pt = 0
    fresh.subset = SubsetMap(fresh)
    pdf.fonts[fresh.fontkey] = fresh
    return pdf


@lru_cache(maxsize=16)
def _font_program(extra: frozenset[str]) -> tuple[bytes, int, dict[str, int]]:
    """The font cut to the common glyphs and `extra`, as fpdf2 would cut it (same options and
    dropped tables): (the compressed font file, its length, glyph id by glyph name)."""
    from fontTools import subset, ttLib

    font = ttLib.TTFont(io.BytesIO(_fonts["data"]), recalcTimestamp=False, lazy=True)
    options = subset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += list(DROPPED_TABLES)
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=sorted(_fonts["common"] | extra))
    subsetter.subset(font)
    gids = {name: font.getGlyphID(name) for name in font.getGlyphOrder()}
    output = io.BytesIO()
    font.save(output)
    program = output.getvalue()
    return zlib.compress(program), len(program), gids


@cache
def _font_output() -> type:
    """fpdf2's OutputProducer with the font embedded from `_font_program`.

    fpdf2 subsets and re-encodes the font in every document (fontTools, most of a receipt's CPU
    time); here the subset is made once per process for the glyphs receipts use and its bytes
    reused. The PDF objects written are those of fpdf2 2.8.9's `_add_fonts` for a TrueType font
    (Type0 + CIDFontType2, ToUnicode, CIDToGIDMap, FontFile2); any other font goes to fpdf2.
    """
    from fpdf.output import (
        CIDSystemInfo,
        OutputProducer,
        PDFFont,
        _build_cmap_blocks,
        _tt_font_widths,
    )
    from fpdf.syntax import Name, PDFArray, PDFContentStream, PDFObject

    class FontStream(PDFContentStream):
        """A FontFile2 stream compressed once per process."""

        def __init__(self, compressed: bytes, length: int) -> None:
            PDFObject.__init__(self)
            self._contents = compressed
            self.filter = Name("FlateDecode")
            self.length = len(compressed)
            self.length1 = length

    class FontOutput(OutputProducer):
        def _add_fonts(self, *args: Any) -> dict[int, Any]:
            fonts = sorted(self.fpdf.fonts.values(), key=lambda font: font.i)
            if self.fpdf._compliance or any(
                getattr(font, "ttfont", None) is not _fonts["font"].ttfont for font in fonts
            ):
                return dict(super()._add_fonts(*args))
            return {font.i: self._add_font(font) for font in fonts}

        def _add_font(self, font: Any) -> Any:
            if font.missing_glyphs:
                logging.getLogger(__name__).warning(
                    "Font %s is missing %s", font.name, [chr(c) for c in font.missing_glyphs]
                )
            fontname = f"MPDFAA+{font.name}"
            program, length, gids = _font_program(
                frozenset(font.subset.get_all_glyph_names()) - _fonts["common"]
            )
            composite = PDFFont(subtype="Type0", base_font=fontname, encoding="Identity-H")
            self._add_pdf_obj(composite, "fonts")
            cid_font = PDFFont(subtype="CIDFontType2", base_font=fontname,
                               d_w=font.desc.missing_width, w=_tt_font_widths(font))  # fmt: skip
            self._add_pdf_obj(cid_font, "fonts")
            composite.descendant_fonts = PDFArray([cid_font])
            to_unicode, cid_to_gid = [], bytearray(256 * 256 * 2)
            for glyph, code in font.subset.items():
                if glyph is None:
                    continue
                gid = gids[glyph.glyph_name]
                cid_to_gid[2 * code : 2 * code + 2] = gid.to_bytes(2, "big")
                if isinstance(glyph.unicode, tuple) and glyph.unicode:
                    to_unicode.append(
                        f"<{code:04X}> <{''.join(f'{u:04X}' for u in glyph.unicode)}>\n"
                    )
            cmap = PDFContentStream(
                (
                    "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                    "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n"
                    ">> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                    "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
                    f"{_build_cmap_blocks(to_unicode, 'bfchar')}"
                    "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
                ).encode("latin-1")
            )
            self._add_pdf_obj(cmap, "fonts")
            composite.to_unicode = cmap
            system_info = CIDSystemInfo()
            self._add_pdf_obj(system_info, "fonts")
            cid_font.c_i_d_system_info = system_info
            descriptor = copy.copy(font.desc)  # shared by the documents of the process
            descriptor.font_name = Name(fontname)
            self._add_pdf_obj(descriptor, "fonts")
            cid_font.font_descriptor = descriptor
            gid_map = PDFContentStream(contents=bytes(cid_to_gid), compress=True)
            self._add_pdf_obj(gid_map, "fonts")
            cid_font.c_i_d_to_g_i_d_map = gid_map
            stream = FontStream(program, length)
            self._add_pdf_obj(stream, "fonts")
            descriptor.font_file2 = stream
            font.subset.pick.cache_clear()
            font.subset.get_glyph.cache_clear()
            return composite

    return FontOutput


def _output(pdf: FPDF) -> bytes:
    if _fast_fonts():
        return bytes(pdf.output(output_producer_class=_font_output()))
    return bytes(pdf.output())


def _font(pdf: FPDF, size: float) -> None:
    pdf.set_font(FAMILY, "", size)


def _bold(pdf: FPDF, *args: Any, **kwargs: Any) -> None:
    """A cell in bold: one embedded face only (each face costs a font subset per document),
    its glyphs filled and outlined."""
    with pdf.local_context(text_mode="FILL_STROKE", line_width=0.18):
        pdf.cell(*args, **kwargs)


def bare_document(text: str) -> bytes:
    """A one-page PDF with one line in the same font, on fpdf2's own output path: the
    benchmark's yardstick."""
    pdf = _default_pdf()
    pdf.add_page()
    _font(pdf, 10)
    pdf.cell(0, 6, text)
    return bytes(pdf.output())


# segno's matrix holds 1 (or an odd flag) for a dark module: bytes.translate makes an 8-bit row.
_GREY = bytes(0 if value & 1 else 255 for value in range(256))


def _qr(pdf: FPDF, payload: str, x: float, y: float, size: float) -> None:
    """The QR code as a 1-pixel-per-module image, scaled up without smoothing."""
    import segno
    from PIL import Image

    # A fixed mask: any mask decodes; choosing the "best" one costs more than the rest of the
    # page. Error correction M, as ГОСТ Р 56042-2014 recommends.
    code = segno.make(payload, error="m", encoding="utf-8", micro=False, mask=MASK)
    side = len(code.matrix)
    pixels = b"".join(bytes(row).translate(_GREY) for row in code.matrix)
    # The image straight from the matrix: segno's PNG writer is pure Python and fpdf2 would
    # only decode it again.
    pdf.image(Image.frombytes("L", (side, side), pixels).convert("1"), x=x, y=y, w=size, h=size)


def _width(pdf: FPDF, text: str) -> float:
    """`pdf.get_string_width` for our one font without spacing or stretching, a tenth of the
    cost: the sum of the glyph widths (in thousandths of the font size)."""
    widths: Any = pdf.current_font.cw  # type: ignore[union-attr]
    return float(sum(widths[ord(char)] for char in text)) * pdf.font_size_pt / 1000 / pdf.k


def _line(pdf: FPDF, width: float, height: float, line: str, *, align: str = "L") -> None:
    """Text wrapped at spaces into cells of `width` (fpdf2's multi_cell does the same, slower)."""
    room = width - 2 * pdf.c_margin
    space = _width(pdf, " ")
    x = pdf.get_x()
    current: list[str] = []
    used = 0.0
    for word in line.split(" "):
        size = _width(pdf, word)
        if current and used + space + size > room:
            pdf.set_x(x)
            pdf.cell(width, height, " ".join(current), align=align, new_x="LMARGIN", new_y="NEXT")
            current, used = [], 0.0
        used += size + (space if current else 0.0)
        current.append(word)
    pdf.set_x(x)
    pdf.cell(width, height, " ".join(current), align=align, new_x="LMARGIN", new_y="NEXT")


def render(text: ReceiptText) -> bytes:
    """The A4 receipt: the payment slip (извещение and квитанция) with the QR code on top,
    the bill's meters and totals below. Blocking; call it off the event loop."""
    pdf = _new_pdf()
    pdf.set_title(text.title)
    pdf.set_author(text.author)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(12, 10, 12)
    pdf.add_page()
    width = pdf.w - 24
    left = 12.0
    label_w = 42.0
    body_x = left + label_w + 3

    _font(pdf, 12)
    _bold(pdf, width, 6, text.title, new_x="LMARGIN", new_y="NEXT")
    _font(pdf, 9)
    pdf.cell(width, 5, text.subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)

    # The payment slip: «Извещение» with the QR code, then the payer's «Квитанция».
    for part, with_qr in ((text.notice, True), (text.receipt, False)):
        top = pdf.get_y()
        pdf.set_xy(left, top + 1)
        _font(pdf, 10)
        _bold(pdf, label_w, 5, part, align="C")
        if with_qr:
            _qr(pdf, text.qr_payload, left + 3, top + 8, label_w - 6)
            pdf.set_xy(left, top + 8 + label_w - 5)
            _font(pdf, 7)
            _line(pdf, label_w, 3.2, text.qr_caption, align="C")
        pdf.set_xy(body_x, top + 1)
        _font(pdf, 8.5)
        for line in (*text.payee_lines, *text.payer_lines):
            pdf.set_x(body_x)
            _line(pdf, width - label_w - 3, 4, line)
        pdf.set_x(body_x)
        _font(pdf, 10)
        _bold(pdf, width - label_w - 3, 5.5, text.sum_line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(body_x)
        _font(pdf, 8.5)
        pdf.cell(width - label_w - 3, 4.5, text.due_line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(body_x)
        pdf.cell(width - label_w - 3, 6, text.signature, new_x="LMARGIN", new_y="NEXT")
        bottom = max(pdf.get_y(), top + (label_w + 8 if with_qr else 20)) + 1
        pdf.rect(left, top, width, bottom - top)
        pdf.line(left + label_w, top, left + label_w, bottom)
        pdf.set_y(bottom)
    pdf.ln(4)

    # The bill: meters, tariffs and totals.
    _font(pdf, 10)
    _bold(pdf, width, 6, text.table_title, new_x="LMARGIN", new_y="NEXT")
    widths = (28, 40, 23, 23, 23, 18, 25)
    scale = width / sum(widths)
    columns = [w * scale for w in widths]
    _font(pdf, 7.5)
    pdf.set_fill_color(235, 235, 235)
    for title, column in zip(text.table_header, columns, strict=True):
        pdf.cell(column, 6, title, border=1, align="C", fill=True)
    pdf.ln(6)
    _font(pdf, 8)
    for row in text.table_rows:
        if len(row) == 1:  # an explanation spanning the table
            pdf.cell(width, 5.5, row[0], border=1, new_x="LMARGIN", new_y="NEXT")
            continue
        for index, (value, column) in enumerate(zip(row, columns, strict=True)):
            pdf.cell(column, 5.5, value, border=1, align="L" if index < 2 else "R")
        pdf.ln(5.5)
    pdf.ln(2)
    label = width - 45
    for caption, amount, bold in text.totals:
        _font(pdf, 10 if bold else 9)
        write = partial(_bold, pdf) if bold else pdf.cell
        write(label, 5.5, caption)
        write(45, 5.5, amount, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _font(pdf, 8)
    for note in text.notes:
        _line(pdf, width, 4, note)
        pdf.ln(1)
    return _output(pdf)


# --- receipts in the chat: render once per bill version ----------------------------------------


@dataclass
class ReceiptCache:
    """Receipts rendered lately, by bill and version, so a second press does not render again;
    remembers the Telegram file id once sent, so the document is re-sent, not re-uploaded."""

    size: int = 256
    ttl: float = 600.0
    _items: OrderedDict[tuple[int, str], tuple[float, Receipt, str | None]] = field(
        default_factory=OrderedDict
    )
    _locks: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    def get(self, charge_id: int, version: str) -> tuple[Receipt, str | None] | None:
        item = self._items.get((charge_id, version))
        if item is None or time.monotonic() - item[0] > self.ttl:
            return None
        self._items.move_to_end((charge_id, version))
        return item[1], item[2]

    def put(self, receipt: Receipt, charge_id: int, file_id: str | None = None) -> None:
        self._items[(charge_id, receipt.version)] = (time.monotonic(), receipt, file_id)
        self._items.move_to_end((charge_id, receipt.version))
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def lock(self, charge_id: int, version: str) -> asyncio.Lock:
        """One render at a time per bill version (a double press waits and gets the cache)."""
        if len(self._locks) > 2 * self.size:
            for key in [k for k, lock in self._locks.items() if not lock.locked()]:
                del self._locks[key]
        return self._locks.setdefault((charge_id, version), asyncio.Lock())


TextFactory = Callable[[ReceiptData], ReceiptText]


async def render_receipt(data: ReceiptData, words: TextFactory) -> Receipt:
    """Render off the event loop (a thread): the bot keeps answering others meanwhile."""
    text = words(data)
    pdf = await asyncio.to_thread(render, text)
    return Receipt(pdf, text.filename, version_of(text))


async def receipt_for_bill(
    session: AsyncSession,
    account_id: int,
    charge_id: int,
    supplier: Supplier,
    words: TextFactory,
) -> Receipt:
    """The PDF of one bill of the account: bytes, file name, version. For the chat and for the
    monthly push (pass `bot.texts.bills.receipt_text` as `words`)."""
    return await render_receipt(await receipt_data(session, account_id, charge_id, supplier), words)


def render_to_file(text: ReceiptText, path: str) -> str:
    """For worker processes of the receipts command: render and write atomically."""
    data = render(text)
    target = Path(path)
    temporary = target.with_suffix(".part")
    temporary.write_bytes(data)
    temporary.replace(target)
    return path
