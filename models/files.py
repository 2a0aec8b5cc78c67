"""Files users uploaded (documents, attachments, meter photos), stored on disk by content hash."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, CreatedAtMixin


class StoredFile(CreatedAtMixin, Base):
    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_file_id: Mapped[str | None] = mapped_column(String(200))
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(100), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_path: Mapped[str] = mapped_column(String(500), comment="relative to UPLOAD_DIR")
    login_id: Mapped[int | None] = mapped_column(
        ForeignKey("logins.id", ondelete="SET NULL"), index=True, comment="uploader (quota)"
    )
