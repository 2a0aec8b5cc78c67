"""Contract applications: document rules per object type, numbering, staff decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    ApplicationStatus,
    AuditEvent,
    ContractApplication,
    Login,
    Notification,
    ObjectType,
    OutboxStatus,
    TelegramIdentity,
)
from services import contracts
from services.contracts import DOCUMENTS, DocumentKind
from services.files import store_file

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n%%EOF\n"


async def _login(session: AsyncSession) -> int:
    login = Login(
        email="a@example.com", phone="+79990000000", surname="Петров", name="Пётр",
        patronymic="Петрович", password_hash="x", consent_version="1", consent_at=NOW,
    )  # fmt: skip
    session.add(login)
    await session.flush()
    session.add(TelegramIdentity(telegram_user_id=501, chat_id=501, login_id=login.id))
    await session.commit()
    return login.id


async def _file(session: AsyncSession, tmp_path: Path, data: bytes = PDF) -> int:
    stored = await store_file(session, tmp_path, data, filename="a.pdf", limit_mb=20)
    await session.commit()
    return stored.id


def test_every_object_type_asks_for_passport_and_title() -> None:
    for object_type in ObjectType:
        kinds = [r.kind for r in DOCUMENTS[object_type] if r.required]
        assert DocumentKind.PASSPORT in kinds and DocumentKind.TITLE_DEED in kinds
    assert contracts.application_number(123, 2026) == "З-2026-000123"


async def test_submit_needs_required_documents(session: AsyncSession, tmp_path: Path) -> None:
    login_id = await _login(session)
    passport = await _file(session, tmp_path)
    with pytest.raises(contracts.MissingDocuments) as caught:
        await contracts.submit_application(
            session, login_id, object_type=ObjectType.GARAGE, address="ул. Гаражная, 1",
            documents={"passport": [passport]}, now=NOW, year=2026,
        )  # fmt: skip
    assert caught.value.kinds == (DocumentKind.TITLE_DEED, DocumentKind.GRID_CONNECTION_ACT)
    with pytest.raises(contracts.BadAddress):
        contracts.clean_address("  ул ")


async def test_approve_creates_links_and_notifies(session: AsyncSession, tmp_path: Path) -> None:
    login_id = await _login(session)
    a, b = await _file(session, tmp_path), await _file(session, tmp_path, PDF + b"2")
    app = await contracts.submit_application(
        session, login_id, object_type=ObjectType.APARTMENT, address="  ул. Новая,  д. 1 ",
        documents={"passport": [a], "title_deed": [b]}, now=NOW, year=2026,
    )  # fmt: skip
    assert app.number == f"З-2026-{app.id:06d}" and app.status is ApplicationStatus.SUBMITTED
    assert app.address == "ул. Новая, д. 1" and len(app.documents) == 2

    app = await contracts.take_in_work(session, app.id, now=NOW, staff_user_id=9)
    with pytest.raises(contracts.AccountNumberInvalid):
        await contracts.approve(session, app.id, "abc", now=NOW, staff_user_id=9)
    app = await contracts.approve(session, app.id, "7400 0555", now=NOW, staff_user_id=9)
    assert app.status is ApplicationStatus.APPROVED and app.account_number == "74000555"
    account = await session.scalar(select(Account).where(Account.number == "74000555"))
    assert account is not None and account.holder_full_name == "Петров Пётр Петрович"
    link = await session.scalar(select(AccountLink).where(AccountLink.account_id == account.id))
    assert link is not None and link.is_current  # the applicant had no account yet
    kinds = [(n.kind, n.payload["status"]) for n in await session.scalars(select(Notification))]
    assert kinds == [("contract_status", "in_progress"), ("contract_status", "approved")]
    with pytest.raises(contracts.AlreadyDecided):
        await contracts.reject(session, app.id, "поздно", now=NOW, staff_user_id=9)
    mine = await contracts.list_applications(session, login_id)
    assert [x.number for x in mine.items] == [app.number] and mine.pages == 1


async def _submitted(session: AsyncSession, tmp_path: Path, login_id: int) -> int:
    a, b = await _file(session, tmp_path), await _file(session, tmp_path, PDF + b"2")
    app = await contracts.submit_application(
        session, login_id, object_type=ObjectType.APARTMENT, address="ул. Новая, д. 1",
        documents={"passport": [a], "title_deed": [b]}, now=NOW, year=2026,
    )  # fmt: skip
    return app.id


async def test_taking_in_work_twice_notifies_once(session: AsyncSession, tmp_path: Path) -> None:
    app_id = await _submitted(session, tmp_path, await _login(session))
    await contracts.take_in_work(session, app_id, now=NOW, staff_user_id=9)
    again = await contracts.take_in_work(session, app_id, now=NOW, staff_user_id=10)
    assert again.status is ApplicationStatus.IN_PROGRESS
    assert len((await session.scalars(select(Notification))).all()) == 1
    await contracts.approve(session, app_id, "74000777", now=NOW, staff_user_id=9)
    with pytest.raises(contracts.AlreadyDecided):
        await contracts.approve(session, app_id, "74000778", now=NOW, staff_user_id=10)
    with pytest.raises(contracts.AlreadyDecided):
        await contracts.take_in_work(session, app_id, now=NOW, staff_user_id=10)
    assert await session.scalar(select(Account).where(Account.number == "74000778")) is None


async def test_approve_refuses_an_account_someone_else_uses(
    session: AsyncSession, tmp_path: Path
) -> None:
    login_id = await _login(session)
    app_id = await _submitted(session, tmp_path, login_id)
    stranger = Login(
        email="b@example.com", phone="+79990000001", surname="Чужой", name="Иван",
        password_hash="x", consent_version="1", consent_at=NOW,
    )  # fmt: skip
    account = Account(
        number="74009999", holder_surname="Чужой", holder_name="Иван", address="ул. Другая, 2",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    session.add_all([stranger, account])
    await session.flush()
    session.add(
        AccountLink(login_id=stranger.id, account_id=account.id, is_current=True, linked_at=NOW)
    )
    await session.commit()
    with pytest.raises(contracts.AccountNumberTaken):
        await contracts.approve(session, app_id, "74009999", now=NOW, staff_user_id=9)
    assert (await contracts.get_application(session, app_id)).status is ApplicationStatus.SUBMITTED
    app = await contracts.approve(session, app_id, "74009998", now=NOW, staff_user_id=9)
    assert app.status is ApplicationStatus.APPROVED


async def test_documents_sent_late_never_overwrite_a_decision(
    session: AsyncSession, tmp_path: Path
) -> None:
    """#9.10: the applicant's «Дослать документы» races a staff rejection and loses."""
    login_id = await _login(session)
    app_id = await _submitted(session, tmp_path, login_id)
    await contracts.request_documents(session, app_id, "ЕГРН", now=NOW, staff_user_id=9)
    more = await _file(session, tmp_path, PDF + b"3")
    # The applicant's dialog read the application while it still waited for documents …
    assert (await session.get(ContractApplication, app_id)) is not None
    # … and a staff member rejects it in between (another connection: the row changes under us).
    await session.execute(
        update(ContractApplication)
        .where(ContractApplication.id == app_id)
        .values(status=ApplicationStatus.REJECTED)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    with pytest.raises(contracts.AlreadyDecided):
        await contracts.add_documents(session, login_id, app_id, [more], now=NOW)
    assert (await contracts.get_application(session, app_id)).status is ApplicationStatus.REJECTED

    # Taken in work again after the request: the documents are added, the status stays.
    other = await _submitted(session, tmp_path, login_id)
    await contracts.request_documents(session, other, "ЕГРН", now=NOW, staff_user_id=9)
    await contracts.take_in_work(session, other, now=NOW, staff_user_id=9)
    app = await contracts.add_documents(session, login_id, other, [more], now=NOW)
    assert app.status is ApplicationStatus.IN_PROGRESS and len(app.documents) == 3


async def test_an_existing_account_needs_staff_confirmation(
    session: AsyncSession, tmp_path: Path
) -> None:
    """#9.3: approving with the number of an existing account links nothing by itself."""
    login_id = await _login(session)
    app_id = await _submitted(session, tmp_path, login_id)
    account = Account(
        number="74005555", holder_surname="Другой", holder_name="Дмитрий", address="ул. Иная, 9",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    session.add(account)
    await session.commit()
    with pytest.raises(contracts.AccountNeedsConfirmation) as caught:
        await contracts.approve(session, app_id, "7400 5555", now=NOW, staff_user_id=9)
    match = caught.value.match
    assert (match.holder, match.applicant) == ("Другой Дмитрий", "Петров Пётр Петрович")
    assert not match.holder_matches and not match.address_matches
    assert (await session.scalars(select(AccountLink))).all() == []
    assert (await contracts.get_application(session, app_id)).status is ApplicationStatus.SUBMITTED

    app = await contracts.link_existing(session, app_id, match.account_id, now=NOW, staff_user_id=9)
    assert app.status is ApplicationStatus.APPROVED and app.account_number == "74005555"
    link = await session.scalar(select(AccountLink).where(AccountLink.login_id == login_id))
    assert link is not None and link.account_id == match.account_id
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "contract_approved"))
    assert event is not None and event.telegram_user_id == 9
    assert event.details == {"account": "74005555", "how": "linked_existing_confirmed"}
    with pytest.raises(contracts.AlreadyDecided):
        await contracts.link_existing(session, app_id, match.account_id, now=NOW, staff_user_id=9)


async def test_cards_staff_never_saw_are_queued_again(
    session: AsyncSession, tmp_path: Path
) -> None:
    """#9.14: filed without a staff chat (or every retry failed): queued once one exists."""
    login_id = await _login(session)
    app_id = await _submitted(session, tmp_path, login_id)  # no staff chat: nothing queued

    async def cards() -> list[Notification]:
        rows = await session.scalars(
            select(Notification).where(Notification.kind == "contract_card")
        )
        return list(rows)

    assert await cards() == []
    later = NOW + timedelta(hours=1)
    grace = timedelta(minutes=10)
    assert await contracts.queue_missing_cards(session, -100, now=later, grace=grace) == 1
    assert await contracts.queue_missing_cards(session, -100, now=later, grace=grace) == 0
    [card] = await cards()
    assert card.chat_id == -100 and card.payload == {"application_id": app_id}
    card.status = OutboxStatus.FAILED  # every retry failed
    await session.commit()
    an_hour_on = later + timedelta(hours=1)
    assert await contracts.queue_missing_cards(session, -100, now=an_hour_on, grace=grace) == 1
    await contracts.card_posted(session, app_id, 777)
    session.expire_all()
    assert [c.status for c in await cards()] == [OutboxStatus.FAILED, OutboxStatus.SENT]
    assert await contracts.queue_missing_cards(session, -100, now=later, grace=grace) == 0
