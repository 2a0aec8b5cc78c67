"""Storing uploaded files: type checked by content (not by name), saved once per content hash.

Documents sent on to staff are cleaned first: a PDF must parse and have pages, an image is
decoded and re-encoded (which drops whatever was appended to it, and its metadata), so only
real images and PDFs reach staff. Names users gave files are only ever shown through
`safe_display_name`; files the bot sends on are named by the bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Base, StoredFile, utcnow
from services.errors import DomainError

MB = 1024 * 1024
MAX_PIXELS = 60_000_000  # a 60-megapixel scan is plenty; more is a decompression bomb
JPEG_QUALITY = 90
# Control, format (bidi overrides, zero-width), separator and unassigned characters.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Leading bytes of the formats subscribers may send: photos and PDF scans.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)


class UnsupportedFileType(DomainError):
    """Not a PDF, JPEG or PNG by its content, whatever its name says."""


class UploadQuotaExceeded(DomainError):
    """The login uploaded as many files (or bytes) in the last day as the settings allow."""

    def __init__(self, quota: UploadQuota) -> None:
        super().__init__(f"upload quota {quota.files} files / {quota.megabytes} MB a day")
        self.quota = quota


@dataclass(frozen=True, slots=True)
class UploadQuota:
    """How much one login may upload in any 24 hours."""

    files: int
    megabytes: int


class FileTooLarge(DomainError):
    def __init__(self, limit_mb: int) -> None:
        super().__init__(f"file over {limit_mb} MB")
        self.limit_mb = limit_mb


@dataclass(frozen=True, slots=True)
class DetectedType:
    mime_type: str
    extension: str


def detect_type(data: bytes) -> DetectedType | None:
    for signature, mime, extension in _SIGNATURES:
        if data.startswith(signature):
            return DetectedType(mime, extension)
    # HEIC/HEIF photos from iPhones: an ISO-BMFF `ftyp` box with a HEIF brand.
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return DetectedType("image/heic", "heic")
    return None


def check_size(size: int | None, limit_mb: int) -> None:
    """Refuse before downloading when Telegram already told us the size."""
    if size is not None and size > limit_mb * MB:
        raise FileTooLarge(limit_mb)


def safe_display_name(text: str | None, *, limit: int = 200) -> str:
    """A user-given name fit to show: no control or bidi characters (a right-to-left override
    turns «scan.pdf\u202egpj.exe» into what looks like «scan.pdfexe.jpg»), one-spaced, cut."""
    if not text:
        return ""
    kept: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")  # a line break or tab becomes a space
        elif category not in _UNSAFE_CATEGORIES:
            kept.append(ch)
    return " ".join("".join(kept).split())[:limit]


@dataclass(frozen=True, slots=True)
class CleanFile:
    data: bytes
    detected: DetectedType


def clean_document(data: bytes) -> CleanFile:
    """Only a real PDF or picture passes; pictures come back re-encoded (HEIC as JPEG).

    CPU-bound: call it in a worker thread (`store_file` does).
    """
    detected = detect_type(data)
    if detected is None:
        raise UnsupportedFileType("unknown type")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parsers warn about the damage they tolerate
        if detected.mime_type == "application/pdf":
            _check_pdf(data)
            return CleanFile(data, detected)
        return _reencode(data, detected)


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnsupportedFileType("encrypted PDF")
        pages = len(reader.pages)
        if pages > 0:
            reader.pages[0].mediabox  # noqa: B018 - the first page must parse
    except UnsupportedFileType:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged input
        raise UnsupportedFileType("broken PDF") from exc
    if pages == 0:
        raise UnsupportedFileType("PDF without pages")


@cache
def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _reencode(data: bytes, detected: DetectedType) -> CleanFile:
    from PIL import Image, ImageOps

    if detected.extension == "heic":
        _register_heif()
    formats = {"jpg": ["JPEG"], "png": ["PNG"], "heic": ["HEIF"]}[detected.extension]
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if image.width * image.height > MAX_PIXELS:
                raise UnsupportedFileType("image too large")
            image.load()
            upright = ImageOps.exif_transpose(image)
            out = io.BytesIO()
            if detected.extension == "png":
                upright.save(out, format="PNG", optimize=False)
                return CleanFile(out.getvalue(), detected)
            if upright.mode not in ("RGB", "L"):
                upright = upright.convert("RGB")
            upright.save(out, format="JPEG", quality=JPEG_QUALITY)
            return CleanFile(out.getvalue(), DetectedType("image/jpeg", "jpg"))
    except UnsupportedFileType:
        raise
    except Exception as exc:  # Pillow raises many kinds on damaged input
        raise UnsupportedFileType("broken image") from exc


async def check_quota(
    session: AsyncSession, login_id: int, size: int, quota: UploadQuota, *, now: datetime
) -> None:
    """Refuse an upload that would take the login over its files or bytes in 24 hours."""
    count, total = (
        await session.execute(
            select(func.count(StoredFile.id), func.coalesce(func.sum(StoredFile.size), 0)).where(
                StoredFile.login_id == login_id, StoredFile.created_at > now - timedelta(days=1)
            )
        )
    ).one()
    if count + 1 > quota.files or int(total) + size > quota.megabytes * MB:
        raise UploadQuotaExceeded(quota)


async def store_file(
    session: AsyncSession,
    upload_dir: Path,
    data: bytes,
    *,
    filename: str | None,
    limit_mb: int,
    telegram_file_id: str | None = None,
    telegram_file_unique_id: str | None = None,
    clean: bool = False,
    login_id: int | None = None,
    quota: UploadQuota | None = None,
) -> StoredFile:
    """Validate and save the bytes under UPLOAD_DIR/<sha[:2]>/<sha>.<ext>; the caller commits.

    `clean`: the file will be sent on to staff, so it goes through `clean_document` first.
    `login_id` with `quota`: the uploader's daily quota is checked and the file counted.
    """
    check_size(len(data), limit_mb)
    detected = detect_type(data)
    if detected is None:
        raise UnsupportedFileType(safe_display_name(filename) or "?")
    if login_id is not None and quota is not None:
        await check_quota(session, login_id, len(data), quota, now=utcnow())
    if clean:
        cleaned = await asyncio.to_thread(clean_document, data)
        data, detected = cleaned.data, cleaned.detected
    digest = hashlib.sha256(data).hexdigest()
    relative = Path(digest[:2]) / f"{digest}.{detected.extension}"
    target = upload_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(target)
    stored = StoredFile(
        telegram_file_id=telegram_file_id,
        telegram_file_unique_id=telegram_file_unique_id,
        filename=_clean_name(filename, detected.extension),
        mime_type=detected.mime_type,
        size=len(data),
        sha256=digest,
        storage_path=str(relative),
        login_id=login_id,
    )
    session.add(stored)
    await session.flush()
    return stored


def _clean_name(filename: str | None, extension: str) -> str:
    name = safe_display_name(Path(filename or "").name) or f"file.{extension}"
    return name[:200]


def read_file(upload_dir: Path, stored: StoredFile) -> bytes:
    return (upload_dir / stored.storage_path).read_bytes()


@dataclass(frozen=True, slots=True)
class PurgedFiles:
    rows: int
    files: int


def _references() -> list[Any]:
    """Every column of the schema that points at a stored file (contracts, appeals, readings…)."""
    table = StoredFile.__table__
    return [
        fk.parent
        for other in Base.metadata.tables.values()
        for fk in other.foreign_keys
        if fk.column.table is table
    ]


async def purge_unreferenced(
    session: AsyncSession, upload_dir: Path, *, before: datetime
) -> PurgedFiles:
    """Delete stored files uploaded before `before` that no record refers to (a document of an
    abandoned application, a meter photo of a cancelled dialog), and files on disk no row knows.

    `before` must lie beyond the dialog lifetime: until a dialog ends, its files are referred
    to only by the dialog's state.
    """
    query = select(StoredFile.id, StoredFile.storage_path).where(StoredFile.created_at < before)
    for column in _references():
        query = query.where(~exists().where(column == StoredFile.id))
    orphans = (await session.execute(query)).all()
    if orphans:
        await session.execute(
            delete(StoredFile)
            .where(StoredFile.id.in_([row.id for row in orphans]))
            .execution_options(synchronize_session=False)
        )
    await session.commit()
    kept = set(await session.scalars(select(StoredFile.storage_path)))
    # Content is shared by hash: a file goes only when its last row does.
    gone = {row.storage_path for row in orphans} - kept
    removed = await asyncio.to_thread(_remove_files, upload_dir, gone, kept, before)
    return PurgedFiles(rows=len(orphans), files=removed)


def _remove_files(upload_dir: Path, gone: set[str], kept: set[str], before: datetime) -> int:
    """The files of the deleted rows, and files older than `before` that no row names (a write
    that never finished, a row deleted by hand)."""
    if not upload_dir.is_dir():
        return 0
    cutoff = before.timestamp()
    removed = 0
    for path in upload_dir.rglob("*"):
        relative = path.relative_to(upload_dir).as_posix()
        if not path.is_file() or relative in kept:
            continue
        try:
            if relative in gone or path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
