"""Personal accounts (лицевые счета) and their links to logins."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, CreatedAtMixin, utcnow

if TYPE_CHECKING:
    from models.meters import Meter


class SubscriberType(enum.StrEnum):
    INDIVIDUAL = "individual"  # «Физ.лицо», the manual's only type for households


class Account(CreatedAtMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    subscriber_type: Mapped[SubscriberType] = mapped_column(
        Enum(
            SubscriberType,
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=SubscriberType.INDIVIDUAL,
    )
    holder_surname: Mapped[str] = mapped_column(String(100))
    holder_name: Mapped[str] = mapped_column(String(100))
    holder_patronymic: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    balance: Mapped[Decimal] = mapped_column(default=Decimal("0.00"), comment="positive = debt")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    meters: Mapped[list[Meter]] = relationship(back_populates="account", order_by="Meter.id")

    @property
    def holder_full_name(self) -> str:
        return " ".join(
            p for p in (self.holder_surname, self.holder_name, self.holder_patronymic) if p
        )


class AccountLink(Base):
    """A login manages an account; exactly one link per login is current."""

    __tablename__ = "account_links"
    __table_args__ = (
        UniqueConstraint("login_id", "account_id"),
        Index(
            "uq_account_links_current",
            "login_id",
            unique=True,
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login_id: Mapped[int] = mapped_column(ForeignKey("logins.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship()
