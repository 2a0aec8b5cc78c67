"""Applications for a new supply contract («Заявка на договор») and their documents."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin


def _values(enum_cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in enum_cls]


class ObjectType(enum.StrEnum):
    APARTMENT = "apartment"
    HOUSE = "house"
    GARDEN_HOUSE = "garden_house"
    GARAGE = "garage"
    OTHER = "other"


class ApplicationStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    DOCUMENTS_REQUESTED = "documents_requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class ContractApplication(CreatedAtMixin, Base):
    __tablename__ = "contract_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True, comment="З-2026-000123")
    login_id: Mapped[int] = mapped_column(ForeignKey("logins.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[ObjectType] = mapped_column(
        Enum(ObjectType, native_enum=False, length=20, values_callable=_values)
    )
    address: Mapped[str] = mapped_column(String(300))
    status: Mapped[ApplicationStatus] = mapped_column(
        Enum(ApplicationStatus, native_enum=False, length=30, values_callable=_values),
        default=ApplicationStatus.DRAFT,
    )
    staff_comment: Mapped[str | None] = mapped_column(Text)
    staff_chat_message_id: Mapped[int | None] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]

    documents: Mapped[list[ContractDocument]] = relationship(order_by="ContractDocument.id")


class ContractDocument(CreatedAtMixin, Base):
    __tablename__ = "contract_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("contract_applications.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(
        String(40), comment="passport, title_deed, grid_connection_act, …"
    )
    stored_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
