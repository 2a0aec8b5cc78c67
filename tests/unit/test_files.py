"""Uploaded files: what reaches staff is a real PDF or a re-encoded picture, names shown are
safe, a login's daily quota holds, and files nothing refers to are cleaned up."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Login, ObjectType, StoredFile, utcnow
from services import files
from services.files import (
    UnsupportedFileType,
    UploadQuota,
    UploadQuotaExceeded,
    clean_document,
    safe_display_name,
    store_file,
)
from tests.helpers import real_jpeg, real_pdf


def test_names_shown_lose_control_and_bidi_characters() -> None:
    assert safe_display_name("scan.pdf\u202egpj.exe") == "scan.pdfgpj.exe"
    assert safe_display_name("a\u200b\u2066b\u2069\nc\td\x00") == "ab c d"
    assert safe_display_name("Иванов\u200f Иван") == "Иванов Иван"
    assert safe_display_name(None) == "" and safe_display_name("x" * 300) == "x" * 200


def _png(mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (7, 5)).save(out, "PNG")
    return out.getvalue()


def _heic() -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (32, 24), (10, 200, 30))).save(out, quality=80)
    return out.getvalue()


def test_only_real_pdfs_and_pictures_pass_and_pictures_are_reencoded() -> None:
    for fake in (
        b"%PDF-1.7\n@echo off\n",
        b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",  # parses to no page at all
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64,
        b"\x89PNG\r\n\x1a\n<svg onload=alert(1)>",
        b"<html></html>",
    ):
        with pytest.raises(UnsupportedFileType):
            clean_document(fake)
    pdf = real_pdf()
    assert clean_document(pdf).data == pdf  # a PDF is checked, not rewritten
    tail = b"PK\x03\x04 a zip after the picture"
    cleaned = clean_document(real_jpeg() + tail)
    assert tail not in cleaned.data and cleaned.detected.extension == "jpg"
    png = clean_document(_png())
    assert png.detected.extension == "png"
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.size == (7, 5)
    heic = clean_document(_heic())  # staff get a JPEG they can open anywhere
    assert heic.detected.mime_type == "image/jpeg"


def test_a_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 7_000)).save(out, "PNG")  # 70 megapixels in a few kilobytes
    with pytest.raises(UnsupportedFileType):
        clean_document(out.getvalue())


async def _login(session: AsyncSession) -> int:
    login = Login(
        email="q@example.com", phone="+79990000009", surname="Квотов", name="Кирилл",
        password_hash="x", consent_version="1", consent_at=utcnow(),
    )  # fmt: skip
    session.add(login)
    await session.commit()
    return login.id


async def test_daily_upload_quota_per_login(session: AsyncSession, tmp_path: Path) -> None:
    login_id = await _login(session)
    quota = UploadQuota(files=2, megabytes=1)

    async def upload(data: bytes, who: int | None = login_id) -> StoredFile:
        stored = await store_file(
            session, tmp_path, data, filename="a.pdf", limit_mb=20, login_id=who, quota=quota
        )
        await session.commit()
        return stored

    await upload(real_pdf("1"))
    await upload(real_pdf("2"))
    with pytest.raises(UploadQuotaExceeded):
        await upload(real_pdf("3"))
    await upload(real_pdf("3"), who=None)  # not a login's upload: not counted
    # A day later the count starts again, and bytes count as well as files.
    for stored in await session.scalars(select(StoredFile)):
        stored.created_at = utcnow() - timedelta(days=1, minutes=1)
    await session.commit()
    big = real_pdf() + b"%" * (files.MB - 100)
    with pytest.raises(UploadQuotaExceeded):
        await upload(real_pdf() + big)
    await upload(real_pdf("4"))


async def test_files_nothing_refers_to_are_deleted(session: AsyncSession, tmp_path: Path) -> None:
    from services import contracts

    login_id = await _login(session)
    kept_pdf, orphan_pdf = real_pdf("kept"), real_pdf("orphan")

    async def stored(data: bytes) -> StoredFile:
        row = await store_file(session, tmp_path, data, filename="x.pdf", limit_mb=20)
        await session.commit()
        return row

    passport, title = await stored(kept_pdf), await stored(real_pdf("title"))
    twin = await stored(kept_pdf)  # the same content as a kept file: one file on disk
    orphan = await stored(orphan_pdf)  # say, a meter photo of a cancelled dialog
    fresh = await stored(real_pdf("fresh"))  # in a dialog still open
    await contracts.submit_application(
        session, login_id, object_type=ObjectType.APARTMENT, address="ул. Новая, 1",
        documents={"passport": [passport.id], "title_deed": [title.id]}, now=utcnow(), year=2026,
    )  # fmt: skip
    for row in (passport, title, twin, orphan):
        row.created_at = utcnow() - timedelta(days=2)
    await session.commit()
    stray = tmp_path / "ab" / "stray.pdf.part"  # a write the process never finished
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"%PDF-")
    old = (utcnow() - timedelta(days=2)).timestamp()
    os.utime(stray, (old, old))
    orphan_path = tmp_path / orphan.storage_path

    purged = await files.purge_unreferenced(session, tmp_path, before=utcnow() - timedelta(days=1))

    assert purged.rows == 2 and purged.files == 2  # the twin's row; the orphan and the stray
    left = set(await session.scalars(select(StoredFile.id)))
    assert left == {passport.id, title.id, fresh.id}
    assert not orphan_path.exists() and not stray.exists()
    assert (tmp_path / passport.storage_path).read_bytes() == kept_pdf
    assert (tmp_path / fresh.storage_path).exists()
