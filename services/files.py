"""Storing uploaded files: type checked by content (not by name), saved once per content hash."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from models import StoredFile
from services.errors import DomainError

MB = 1024 * 1024

# Leading bytes of the formats subscribers may send: photos and PDF scans.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)


class UnsupportedFileType(DomainError):
    """Not a PDF, JPEG or PNG by its content, whatever its name says."""


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


async def store_file(
    session: AsyncSession,
    upload_dir: Path,
    data: bytes,
    *,
    filename: str | None,
    limit_mb: int,
    telegram_file_id: str | None = None,
    telegram_file_unique_id: str | None = None,
) -> StoredFile:
    """Validate and save the bytes under UPLOAD_DIR/<sha[:2]>/<sha>.<ext>; the caller commits."""
    check_size(len(data), limit_mb)
    detected = detect_type(data)
    if detected is None:
        raise UnsupportedFileType(filename or "?")
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
    )
    session.add(stored)
    await session.flush()
    return stored


def safe_display_name(name: str) -> str:
    """A file name as it may be shown: without control, format (bidi overrides such as
    U+202E that make «scan.pdf\u202egpj.exe» read as «scan.pdfexe.jpg») and other invisible
    characters."""
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category == "Zs":
            kept.append(" ")
        elif category[0] != "C" and category not in ("Zl", "Zp"):
            kept.append(char)
    return "".join(kept)


def _clean_name(filename: str | None, extension: str) -> str:
    name = safe_display_name(Path(filename or "").name).strip() or f"file.{extension}"
    return name[:200]


def read_file(upload_dir: Path, stored: StoredFile) -> bytes:
    return (upload_dir / stored.storage_path).read_bytes()
