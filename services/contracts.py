"""Applications for a supply contract («Заявка на договор»): documents, staff handling, approval.

`DOCUMENTS` is the one place that says which documents each object type needs. Staff move an
application through IN_PROGRESS / DOCUMENTS_REQUESTED to APPROVED (a new account is created and
linked to the applicant) or REJECTED; each change queues a notification to the applicant.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    ApplicationStatus,
    AuditEvent,
    ContractApplication,
    ContractDocument,
    Login,
    Notification,
    ObjectType,
    OutboxStatus,
    StoredFile,
    SubscriberType,
    TelegramIdentity,
    utcnow,
)
from services import notifications
from services.accounts import BadAccountNumber, add_link, normalise_account_number
from services.errors import DomainError, NotFound
from services.files import safe_display_name
from services.notifications import enqueue

MAX_ADDRESS = 300
MIN_ADDRESS = 5
MAX_FILES_PER_KIND = 10
PAGE_SIZE = 5  # «Мои заявки»: five long applications still fit one message
NOTIFY_KIND = "contract_status"
CARD_KIND = "contract_card"  # the application's card in the staff chat, through the outbox


class DocumentKind(enum.StrEnum):
    PASSPORT = "passport"
    TITLE_DEED = "title_deed"  # право собственности: выписка ЕГРН, договор купли-продажи…
    GRID_CONNECTION_ACT = "grid_connection_act"  # акт о технологическом присоединении
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DocumentRequirement:
    kind: DocumentKind
    required: bool


def _docs(*pairs: tuple[DocumentKind, bool]) -> tuple[DocumentRequirement, ...]:
    return tuple(DocumentRequirement(kind, required) for kind, required in pairs)


# The documents the application asks for, in the order they are asked, per object type.
# In a block of flats the grid connection belongs to the building, so a flat may skip it.
DOCUMENTS: Mapping[ObjectType, tuple[DocumentRequirement, ...]] = {
    ObjectType.APARTMENT: _docs(
        (DocumentKind.PASSPORT, True),
        (DocumentKind.TITLE_DEED, True),
        (DocumentKind.GRID_CONNECTION_ACT, False),
    ),
    ObjectType.HOUSE: _docs(
        (DocumentKind.PASSPORT, True),
        (DocumentKind.TITLE_DEED, True),
        (DocumentKind.GRID_CONNECTION_ACT, True),
    ),
    ObjectType.GARDEN_HOUSE: _docs(
        (DocumentKind.PASSPORT, True),
        (DocumentKind.TITLE_DEED, True),
        (DocumentKind.GRID_CONNECTION_ACT, True),
    ),
    ObjectType.GARAGE: _docs(
        (DocumentKind.PASSPORT, True),
        (DocumentKind.TITLE_DEED, True),
        (DocumentKind.GRID_CONNECTION_ACT, True),
    ),
    ObjectType.OTHER: _docs(
        (DocumentKind.PASSPORT, True),
        (DocumentKind.TITLE_DEED, True),
        (DocumentKind.GRID_CONNECTION_ACT, True),
        (DocumentKind.OTHER, False),
    ),
}

OPEN_STATUSES = frozenset(
    {
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.IN_PROGRESS,
        ApplicationStatus.DOCUMENTS_REQUESTED,
    }
)


class BadAddress(DomainError):
    pass


class MissingDocuments(DomainError):
    def __init__(self, kinds: Sequence[DocumentKind]) -> None:
        super().__init__(f"missing documents: {', '.join(kinds)}")
        self.kinds = tuple(kinds)


class AlreadyDecided(DomainError):
    """The application is approved or rejected already; staff cannot change it."""

    def __init__(self, status: ApplicationStatus) -> None:
        super().__init__(f"application already {status}")
        self.status = status


class AccountNumberInvalid(DomainError):
    pass


class AccountNumberTaken(DomainError):
    """The typed number is an account someone else already uses: most likely a typo."""


@dataclass(frozen=True, slots=True)
class AccountMatch:
    """An existing account staff typed, beside the application, before anything is linked."""

    account_id: int
    number: str
    holder: str
    address: str
    applicant: str
    application_address: str

    @property
    def holder_matches(self) -> bool:
        return _same(self.holder, self.applicant)

    @property
    def address_matches(self) -> bool:
        return _same(self.address, self.application_address)


def _same(a: str, b: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(text.casefold().replace("ё", "е").replace(",", " ").split())

    return norm(a) == norm(b)


class AccountNeedsConfirmation(DomainError):
    """The number is an existing account: staff must compare it and confirm the link."""

    def __init__(self, match: AccountMatch) -> None:
        super().__init__(f"account {match.number} exists")
        self.match = match


@dataclass(frozen=True, slots=True)
class DocumentView:
    kind: DocumentKind
    stored_file_id: int
    filename: str
    mime_type: str
    storage_path: str
    position: int  # 1, 2, … among the application's documents of this kind

    @property
    def extension(self) -> str:
        """Of the type detected from the content (the stored name ends with it)."""
        return self.storage_path.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class ApplicationView:
    id: int
    number: str
    status: ApplicationStatus
    object_type: ObjectType
    address: str
    applicant_name: str
    applicant_phone: str
    applicant_email: str
    login_id: int
    staff_comment: str | None
    staff_chat_message_id: int | None
    account_number: str | None
    created_at: datetime
    documents: tuple[DocumentView, ...]


def requirements(object_type: ObjectType) -> tuple[DocumentRequirement, ...]:
    return DOCUMENTS[object_type]


def clean_address(text: str) -> str:
    address = safe_display_name(text, limit=MAX_ADDRESS + 1)
    if not MIN_ADDRESS <= len(address) <= MAX_ADDRESS:
        raise BadAddress(str(len(address)))
    return address


def application_number(application_id: int, year: int) -> str:
    """«З-2026-000123»: the year of submission and the row id."""
    return f"З-{year}-{application_id:06d}"


def missing_documents(
    object_type: ObjectType, documents: Mapping[str, Sequence[int]]
) -> list[DocumentKind]:
    return [
        req.kind
        for req in DOCUMENTS[object_type]
        if req.required and not documents.get(req.kind.value)
    ]


async def _view(session: AsyncSession, application: ContractApplication) -> ApplicationView:
    login = await session.get(Login, application.login_id)
    account_number = None
    if application.account_id is not None:
        account_number = await session.scalar(
            select(Account.number).where(Account.id == application.account_id)
        )
    rows = await session.execute(
        select(ContractDocument.kind, StoredFile)
        .join(StoredFile, StoredFile.id == ContractDocument.stored_file_id)
        .where(ContractDocument.application_id == application.id)
        .order_by(ContractDocument.id)
    )
    positions: dict[str, int] = {}
    documents: list[DocumentView] = []
    for kind, f in rows.tuples():
        positions[kind] = positions.get(kind, 0) + 1
        documents.append(
            DocumentView(
                DocumentKind(kind), f.id, f.filename, f.mime_type, f.storage_path, positions[kind]
            )
        )
    return ApplicationView(
        id=application.id,
        number=application.number or "",
        status=application.status,
        object_type=application.object_type,
        address=application.address,
        applicant_name=safe_display_name(login.full_name) if login else "",
        applicant_phone=login.phone if login else "",
        applicant_email=login.email if login else "",
        login_id=application.login_id,
        staff_comment=application.staff_comment,
        staff_chat_message_id=application.staff_chat_message_id,
        account_number=account_number,
        created_at=application.created_at,
        documents=tuple(documents),
    )


async def _own_files(session: AsyncSession, file_ids: Sequence[int]) -> set[int]:
    if not file_ids:
        return set()
    found = await session.scalars(select(StoredFile.id).where(StoredFile.id.in_(file_ids)))
    return set(found)


async def submit_application(
    session: AsyncSession,
    login_id: int,
    *,
    object_type: ObjectType,
    address: str,
    documents: Mapping[str, Sequence[int]],
    now: datetime,
    year: int,
    staff_chat_id: int | None = None,
) -> ApplicationView:
    """Save a complete application (documents are StoredFile ids per DocumentKind value).

    With a staff chat, its card is queued in the same transaction (leased to the caller, who
    posts it at once): a card that fails to post is retried by the outbox, never lost.
    """
    address = clean_address(address)
    missing = missing_documents(object_type, documents)
    if missing:
        raise MissingDocuments(missing)
    allowed = {req.kind.value for req in DOCUMENTS[object_type]}
    application = ContractApplication(
        login_id=login_id,
        object_type=object_type,
        address=address,
        status=ApplicationStatus.SUBMITTED,
        submitted_at=now,
        created_at=now,
    )
    session.add(application)
    await session.flush()
    application.number = application_number(application.id, year)
    all_ids = [file_id for ids in documents.values() for file_id in ids]
    existing = await _own_files(session, all_ids)
    for kind, ids in documents.items():
        if kind not in allowed:
            continue
        for file_id in ids:
            if file_id in existing:
                session.add(
                    ContractDocument(
                        application_id=application.id,
                        kind=kind,
                        stored_file_id=file_id,
                        created_at=now,
                    )
                )
    session.add(
        AuditEvent(
            at=now, action="contract_submitted", login_id=login_id, entity="contract",
            entity_id=str(application.id),
        )
    )  # fmt: skip
    if staff_chat_id is not None:
        await _queue_card(session, application.id, staff_chat_id, _card_key(application.id))
    await session.commit()
    return await _view(session, application)


def _card_key(application_id: int, round_: int | None = None) -> str:
    key = f"contract-card:{application_id}"
    return key if round_ is None else f"{key}:{round_}"


async def _queue_card(
    session: AsyncSession, application_id: int, staff_chat_id: int, key: str
) -> None:
    await enqueue(
        session, kind=CARD_KIND, chat_id=staff_chat_id, dedup_key=key,
        payload={"application_id": application_id}, lease=notifications.LEASE,
    )  # fmt: skip


async def card_posted(session: AsyncSession, application_id: int, message_id: int) -> None:
    """The card is in the staff chat: remember it, and its outbox entry is done."""
    application = await _load(session, application_id)
    application.staff_chat_message_id = message_id
    await session.execute(
        update(Notification)
        .where(_card_entries(application_id), Notification.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENT, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def card_failed(session: AsyncSession, application_id: int, error: str) -> None:
    """Posting at once failed: the outbox retries it after a pause (the lease is released)."""
    ids = await session.scalars(
        select(Notification.id).where(
            _card_entries(application_id), Notification.status == OutboxStatus.PENDING
        )
    )
    for notification_id in list(ids):
        await notifications.mark_failed(session, notification_id, error)


def _card_entries(application_id: int) -> ColumnElement[bool]:
    key = _card_key(application_id)
    return (Notification.kind == CARD_KIND) & or_(
        Notification.dedup_key == key, Notification.dedup_key.like(f"{key}:%")
    )


async def queue_missing_cards(
    session: AsyncSession, staff_chat_id: int, *, now: datetime, grace: timedelta
) -> int:
    """Open applications whose card is not in the staff chat and not queued (no staff chat when
    they were filed, or every retry failed): queue their cards again. Returns how many."""
    applications = await session.scalars(
        select(ContractApplication.id).where(
            ContractApplication.status.in_(OPEN_STATUSES),
            ContractApplication.staff_chat_message_id.is_(None),
            ContractApplication.submitted_at < now - grace,
        )
    )
    queued = 0
    for application_id in list(applications):
        pending = await session.scalar(
            select(Notification.id).where(
                _card_entries(application_id), Notification.status == OutboxStatus.PENDING
            )
        )
        if pending is None:
            key = _card_key(application_id, int(now.timestamp()))
            await _queue_card(session, application_id, staff_chat_id, key)
            queued += 1
    await session.commit()
    return queued


async def add_documents(
    session: AsyncSession,
    login_id: int,
    application_id: int,
    file_ids: Sequence[int],
    *,
    now: datetime,
) -> ApplicationView:
    """The applicant sends what staff asked for; the application goes back to SUBMITTED.

    The status moves by the same conditional claim staff actions use, so documents sent while
    staff approve or reject never overwrite the decision; if staff took the application in
    work meanwhile, the documents are added and the status stays theirs.
    """
    application = await _load(session, application_id)
    if application.login_id != login_id:
        raise NotFound(f"application {application_id}")
    application, _ = await _claim(
        session, application_id, ApplicationStatus.SUBMITTED,
        allowed_from=frozenset({ApplicationStatus.DOCUMENTS_REQUESTED}),
    )  # fmt: skip
    if application.status not in OPEN_STATUSES:
        raise AlreadyDecided(application.status)
    for file_id in await _own_files(session, file_ids):
        session.add(
            ContractDocument(
                application_id=application.id,
                kind=DocumentKind.OTHER.value,
                stored_file_id=file_id,
                created_at=now,
            )
        )
    await session.commit()
    return await _view(session, application)


async def _load(session: AsyncSession, application_id: int) -> ContractApplication:
    application = await session.get(ContractApplication, application_id)
    if application is None:
        raise NotFound(f"application {application_id}")
    return application


async def get_application(session: AsyncSession, application_id: int) -> ApplicationView:
    return await _view(session, await _load(session, application_id))


@dataclass(frozen=True, slots=True)
class ApplicationsPage:
    items: list[ApplicationView]
    page: int  # from 0
    pages: int


async def list_applications(
    session: AsyncSession, login_id: int, *, page: int = 0, per_page: int = PAGE_SIZE
) -> ApplicationsPage:
    """«Мои заявки», newest first, one page (a page past the end shows the last one)."""
    mine = (
        ContractApplication.login_id == login_id,
        ContractApplication.status != ApplicationStatus.DRAFT,
    )
    total = await session.scalar(select(func.count(ContractApplication.id)).where(*mine)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 0), pages - 1)
    applications = await session.scalars(
        select(ContractApplication)
        .where(*mine)
        .order_by(ContractApplication.id.desc())
        .offset(page * per_page)
        .limit(per_page)
    )
    return ApplicationsPage([await _view(session, a) for a in applications.all()], page, pages)


async def _notify(
    session: AsyncSession, application: ContractApplication, *, now: datetime, extra: dict[str, Any]
) -> None:
    chats = await session.scalars(
        select(TelegramIdentity.chat_id).where(
            TelegramIdentity.login_id == application.login_id,
            TelegramIdentity.blocked_bot_at.is_(None),
        )
    )
    payload = {
        "application_id": application.id,
        "number": application.number,
        "status": application.status.value,
        "comment": application.staff_comment,
        **extra,
    }
    for chat_id in set(chats):
        await enqueue(
            session,
            kind=NOTIFY_KIND,
            chat_id=chat_id,
            login_id=application.login_id,
            dedup_key=f"contract:{application.id}:{application.status.value}:"
            f"{int(now.timestamp() * 1000)}:{chat_id}",
            payload=payload,
        )


async def _claim(
    session: AsyncSession,
    application_id: int,
    status: ApplicationStatus,
    *,
    allowed_from: frozenset[ApplicationStatus] = OPEN_STATUSES,
) -> tuple[ContractApplication, bool]:
    """Move the application to `status` only if it is still in `allowed_from`, in one UPDATE.

    Two staff members pressing at once both get here; the database lets exactly one UPDATE
    match, so an application is never approved twice. Returns the row and whether it moved.
    """
    result = await session.execute(
        update(ContractApplication)
        .where(
            ContractApplication.id == application_id,
            ContractApplication.status.in_(allowed_from),
        )
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    moved = cast("CursorResult[Any]", result).rowcount == 1
    if not moved:
        await session.rollback()  # release the write lock at once (SQLite)
    application = await _load(session, application_id)
    await session.refresh(application)
    return application, moved


async def _change(
    session: AsyncSession,
    application_id: int,
    status: ApplicationStatus,
    *,
    now: datetime,
    staff_user_id: int,
    comment: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ContractApplication:
    application, moved = await _claim(session, application_id, status)
    if not moved:
        raise AlreadyDecided(application.status)
    await _record(
        session, application, now=now, staff_user_id=staff_user_id, comment=comment, extra=extra
    )
    return application


async def _record(
    session: AsyncSession,
    application: ContractApplication,
    *,
    now: datetime,
    staff_user_id: int,
    comment: str | None,
    extra: dict[str, Any] | None,
    details: dict[str, Any] | None = None,
) -> None:
    """The claimed status change: comment, decision time, audit and the applicant's notice."""
    status = application.status
    if comment is not None:
        application.staff_comment = comment
    if status in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED):
        application.decided_at = now
    session.add(
        AuditEvent(
            at=now, action=f"contract_{status.value}", telegram_user_id=staff_user_id,
            login_id=application.login_id, entity="contract", entity_id=str(application.id),
            details=details or {},
        )
    )  # fmt: skip
    await _notify(session, application, now=now, extra=extra or {})


async def take_in_work(
    session: AsyncSession, application_id: int, *, now: datetime, staff_user_id: int
) -> ApplicationView:
    """Idempotent: pressing «Взять в работу» again does not notify the applicant twice."""
    application, moved = await _claim(
        session, application_id, ApplicationStatus.IN_PROGRESS,
        allowed_from=OPEN_STATUSES - {ApplicationStatus.IN_PROGRESS},
    )  # fmt: skip
    if not moved:
        if application.status is not ApplicationStatus.IN_PROGRESS:
            raise AlreadyDecided(application.status)
        return await _view(session, application)
    await _record(
        session, application, now=now, staff_user_id=staff_user_id, comment=None, extra=None
    )
    await session.commit()
    return await _view(session, application)


async def request_documents(
    session: AsyncSession, application_id: int, comment: str, *, now: datetime, staff_user_id: int
) -> ApplicationView:
    application = await _change(
        session, application_id, ApplicationStatus.DOCUMENTS_REQUESTED, now=now,
        staff_user_id=staff_user_id, comment=comment.strip()[:2000],
    )  # fmt: skip
    await session.commit()
    return await _view(session, application)


async def reject(
    session: AsyncSession, application_id: int, reason: str, *, now: datetime, staff_user_id: int
) -> ApplicationView:
    application = await _change(
        session, application_id, ApplicationStatus.REJECTED, now=now,
        staff_user_id=staff_user_id, comment=reason.strip()[:2000],
    )  # fmt: skip
    await session.commit()
    return await _view(session, application)


async def approve(
    session: AsyncSession,
    application_id: int,
    account_number: str,
    *,
    now: datetime,
    staff_user_id: int,
) -> ApplicationView:
    """Create a new account (holder = the applicant, address = the object's), link it, notify.

    A number that is already an account is never linked here: an account another login uses
    is refused (most likely a typo), any other raises AccountNeedsConfirmation with both sides
    to show staff; only `link_existing`, after staff confirm, links it.
    """
    try:
        number = normalise_account_number(account_number)
    except BadAccountNumber:
        raise AccountNumberInvalid(account_number[:40]) from None
    application = await _load(session, application_id)
    if application.status not in OPEN_STATUSES:
        raise AlreadyDecided(application.status)
    login = await session.get(Login, application.login_id)
    if login is None:
        raise NotFound(f"login {application.login_id}")
    account = await session.scalar(select(Account).where(Account.number == number))
    if account is not None:
        await _refuse_foreign(session, account, login.id)
        raise AccountNeedsConfirmation(
            AccountMatch(
                account_id=account.id, number=account.number,
                holder=safe_display_name(account.holder_full_name),
                address=safe_display_name(account.address or ""),
                applicant=safe_display_name(login.full_name),
                application_address=application.address,
            )
        )  # fmt: skip
    application, moved = await _claim(session, application_id, ApplicationStatus.APPROVED)
    if not moved:
        raise AlreadyDecided(application.status)
    account = Account(
        number=number,
        subscriber_type=SubscriberType.INDIVIDUAL,
        holder_surname=login.surname,
        holder_name=login.name,
        holder_patronymic=login.patronymic,
        address=application.address,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return await _approve_with(
        session, application, account, login.id, now=now, staff_user_id=staff_user_id,
        how="created",
    )  # fmt: skip


async def link_existing(
    session: AsyncSession,
    application_id: int,
    account_id: int,
    *,
    now: datetime,
    staff_user_id: int,
) -> ApplicationView:
    """Staff compared the existing account with the application and confirmed: link it."""
    application = await _load(session, application_id)
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id}")
    await _refuse_foreign(session, account, application.login_id)
    application, moved = await _claim(session, application_id, ApplicationStatus.APPROVED)
    if not moved:
        raise AlreadyDecided(application.status)
    return await _approve_with(
        session, application, account, application.login_id, now=now,
        staff_user_id=staff_user_id, how="linked_existing_confirmed",
    )  # fmt: skip


async def decline_existing(
    session: AsyncSession,
    application_id: int,
    account_id: int,
    *,
    now: datetime,
    staff_user_id: int,
) -> tuple[ApplicationView, str]:
    """Staff saw the comparison and did not link the account; the application stays open.

    Returns the application and the number of the account not linked.
    """
    application = await _load(session, application_id)
    number = await session.scalar(select(Account.number).where(Account.id == account_id))
    session.add(
        AuditEvent(
            at=now, action="contract_link_declined", telegram_user_id=staff_user_id,
            login_id=application.login_id, entity="contract", entity_id=str(application.id),
            details={"account": number},
        )
    )  # fmt: skip
    await session.commit()
    return await _view(session, application), number or ""


async def _refuse_foreign(session: AsyncSession, account: Account, login_id: int) -> None:
    number = account.number
    if await session.scalar(
        select(AccountLink.id).where(
            AccountLink.account_id == account.id, AccountLink.login_id != login_id
        )
    ):
        await session.rollback()
        raise AccountNumberTaken(number)


async def _approve_with(
    session: AsyncSession,
    application: ContractApplication,
    account: Account,
    login_id: int,
    *,
    now: datetime,
    staff_user_id: int,
    how: str,
) -> ApplicationView:
    linked = await session.scalar(
        select(AccountLink.id).where(
            AccountLink.login_id == login_id, AccountLink.account_id == account.id
        )
    )
    if linked is None:
        await add_link(session, login_id, account.id, now=now)
    application.account_id = account.id
    await _record(
        session, application, now=now, staff_user_id=staff_user_id, comment=None,
        extra={"account": account.number}, details={"account": account.number, "how": how},
    )  # fmt: skip
    await session.commit()
    return await _view(session, application)
