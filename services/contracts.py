"""Applications for a supply contract («Заявка на договор»): documents, staff handling, approval.

`DOCUMENTS` is the one place that says which documents each object type needs. Staff move an
application through IN_PROGRESS / DOCUMENTS_REQUESTED to APPROVED (a new account is created and
linked to the applicant) or REJECTED; each change queues a notification to the applicant.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    ApplicationStatus,
    AuditEvent,
    ContractApplication,
    ContractDocument,
    Login,
    ObjectType,
    StoredFile,
    SubscriberType,
    TelegramIdentity,
)
from services.accounts import BadAccountNumber, add_link, normalise_account_number
from services.errors import DomainError, NotFound
from services.notifications import enqueue

MAX_ADDRESS = 300
MIN_ADDRESS = 5
MAX_FILES_PER_KIND = 10
NOTIFY_KIND = "contract_status"


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
class DocumentView:
    kind: DocumentKind
    stored_file_id: int
    filename: str
    mime_type: str
    storage_path: str


@dataclass(frozen=True, slots=True)
class ApplicationView:
    id: int
    number: str
    status: ApplicationStatus
    object_type: ObjectType
    address: str
    applicant_name: str
    login_id: int
    staff_comment: str | None
    staff_chat_message_id: int | None
    account_number: str | None
    created_at: datetime
    documents: tuple[DocumentView, ...]


def requirements(object_type: ObjectType) -> tuple[DocumentRequirement, ...]:
    return DOCUMENTS[object_type]


def clean_address(text: str) -> str:
    address = " ".join(text.split())
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
    documents = tuple(
        DocumentView(DocumentKind(kind), f.id, f.filename, f.mime_type, f.storage_path)
        for kind, f in rows.tuples()
    )
    return ApplicationView(
        id=application.id,
        number=application.number or "",
        status=application.status,
        object_type=application.object_type,
        address=application.address,
        applicant_name=login.full_name if login else "",
        login_id=application.login_id,
        staff_comment=application.staff_comment,
        staff_chat_message_id=application.staff_chat_message_id,
        account_number=account_number,
        created_at=application.created_at,
        documents=documents,
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
) -> ApplicationView:
    """Save a complete application (documents are StoredFile ids per DocumentKind value)."""
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
    await session.commit()
    return await _view(session, application)


async def add_documents(
    session: AsyncSession,
    login_id: int,
    application_id: int,
    file_ids: Sequence[int],
    *,
    now: datetime,
) -> ApplicationView:
    """The applicant sends what staff asked for; the application goes back to SUBMITTED."""
    application = await _load(session, application_id)
    if application.login_id != login_id:
        raise NotFound(f"application {application_id}")
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
    application.status = ApplicationStatus.SUBMITTED
    await session.commit()
    return await _view(session, application)


async def set_staff_message(session: AsyncSession, application_id: int, message_id: int) -> None:
    """Remember the card in the staff chat (staff buttons and replies refer to it)."""
    application = await _load(session, application_id)
    application.staff_chat_message_id = message_id
    await session.commit()


async def _load(session: AsyncSession, application_id: int) -> ContractApplication:
    application = await session.get(ContractApplication, application_id)
    if application is None:
        raise NotFound(f"application {application_id}")
    return application


async def get_application(session: AsyncSession, application_id: int) -> ApplicationView:
    return await _view(session, await _load(session, application_id))


async def list_applications(session: AsyncSession, login_id: int) -> list[ApplicationView]:
    """«Мои заявки»: newest first, without documents' details being needed."""
    applications = await session.scalars(
        select(ContractApplication)
        .where(
            ContractApplication.login_id == login_id,
            ContractApplication.status != ApplicationStatus.DRAFT,
        )
        .order_by(ContractApplication.id.desc())
    )
    return [await _view(session, a) for a in applications.all()]


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
    """Create the account (holder = the applicant, address = the object's), link it, notify.

    If billing already created an account with this number (a registry import came first),
    that account is linked instead of creating a duplicate; an account another login already
    uses is refused (a typo must not hand over a stranger's account).
    """
    try:
        number = normalise_account_number(account_number)
    except BadAccountNumber:
        raise AccountNumberInvalid(account_number[:40]) from None
    application, moved = await _claim(session, application_id, ApplicationStatus.APPROVED)
    if not moved:
        raise AlreadyDecided(application.status)
    login = await session.get(Login, application.login_id)
    if login is None:
        raise NotFound(f"login {application.login_id}")
    account = await session.scalar(select(Account).where(Account.number == number))
    if account is not None and await session.scalar(
        select(AccountLink.id).where(
            AccountLink.account_id == account.id, AccountLink.login_id != login.id
        )
    ):
        await session.rollback()
        raise AccountNumberTaken(number)
    if account is None:
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
    linked = await session.scalar(
        select(AccountLink.id).where(
            AccountLink.login_id == login.id, AccountLink.account_id == account.id
        )
    )
    if linked is None:
        await add_link(session, login.id, account.id, now=now)
    application.account_id = account.id
    await _record(
        session, application, now=now, staff_user_id=staff_user_id, comment=None,
        extra={"account": number},
    )  # fmt: skip
    await session.commit()
    return await _view(session, application)
