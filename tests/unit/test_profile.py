"""«⚙️ Настройки» rules on a real database (SQLite and PostgreSQL): profile fields, the e-mail
change by letter, subscriptions, the counted old password, and the erasure of personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Account,
    AccountLink,
    Appeal,
    AppealAttachment,
    AppealMessage,
    AppealTopic,
    AuditEvent,
    ContractApplication,
    ContractDocument,
    EmailToken,
    Login,
    MessageDirection,
    Notification,
    ObjectType,
    Payment,
    PaymentChannel,
    PaymentStatus,
    StoredFile,
    Subscription,
    TelegramIdentity,
)
from services import auth, profile
from services.errors import NotFound
from services.files import store_file
from services.identity import bind_login
from services.passwords import hash_password, verify_password
from services.profile import Field, Topic
from services.validation import InvalidEmail

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PASSWORD = "Secret2026pass"
CAPS = auth.MailCaps(per_user=5, per_address=5)
PDF = b"%PDF-1.4\n"


async def make_login(session: AsyncSession, email: str = "anna@example.ru", user: int = 1) -> int:
    login = Login(
        email=email, phone="+79991234567", surname="Петрова", name="Анна", patronymic=None,
        password_hash=await hash_password(PASSWORD), activated_at=NOW, consent_version="2026-01",
        consent_at=NOW, created_at=NOW,
    )  # fmt: skip
    session.add(login)
    await session.flush()
    await bind_login(session, user, user, login.id)
    await session.commit()
    return login.id


async def test_profile_fields_are_saved_and_only_changes_are_reported(
    session: AsyncSession,
) -> None:
    login_id = await make_login(session)
    saved, changed = await profile.save_profile(
        session, login_id,
        {Field.PHONE: "+79990001122", Field.SURNAME: "Петрова", Field.NAME: "Анна",
         Field.PATRONYMIC: "Сергеевна"},
        telegram_user_id=1, now=NOW,
    )  # fmt: skip
    assert changed == [Field.PHONE, Field.PATRONYMIC]
    assert (saved.phone, saved.patronymic) == ("+79990001122", "Сергеевна")
    _, again = await profile.save_profile(
        session, login_id, {Field.PATRONYMIC: None}, telegram_user_id=1, now=NOW
    )
    assert (
        again == [Field.PATRONYMIC]
        and (await profile.get_profile(session, login_id)).patronymic is None
    )
    with pytest.raises(ValueError):
        await profile.save_profile(session, login_id, {Field.NAME: ""}, telegram_user_id=1, now=NOW)
    audit = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "profile.updated"))
    ).all()
    assert [a.details["fields"] for a in audit] == [["phone", "patronymic"], ["patronymic"]]


async def test_subscriptions_toggle_idempotently_and_sms_needs_a_phone(
    session: AsyncSession,
) -> None:
    login_id = await make_login(session)
    state = await profile.get_subscriptions(session, login_id, now=NOW)
    assert (state.reading_reminders, state.monthly_bill, state.sms) == (True, True, False)
    state, changed = await profile.set_subscription(session, login_id, Topic.BILL, False, now=NOW)
    assert changed and not state.monthly_bill
    state, changed = await profile.set_subscription(session, login_id, Topic.BILL, False, now=NOW)
    assert not changed and not state.monthly_bill  # a double press changes nothing
    state, changed = await profile.set_subscription(session, login_id, Topic.SMS, True, now=NOW)
    assert changed and state.sms
    row = await session.get(Subscription, login_id)
    assert row is not None and (row.monthly_bill, row.sms) == (False, True)

    login = await session.get(Login, login_id)
    assert login is not None
    login.phone = ""
    await session.commit()
    await profile.set_subscription(session, login_id, Topic.SMS, False, now=NOW)
    with pytest.raises(profile.SmsNeedsPhone):
        await profile.set_subscription(session, login_id, Topic.SMS, True, now=NOW)


async def test_email_changes_only_when_the_letter_comes_back(session: AsyncSession) -> None:
    login_id = await make_login(session)
    await make_login(session, "taken@example.ru", user=2)
    with pytest.raises(InvalidEmail):
        await profile.request_email_change(session, login_id, "не адрес", telegram_user_id=1,
                                           now=NOW, caps=CAPS)  # fmt: skip
    with pytest.raises(profile.EmailUnchanged):
        await profile.request_email_change(session, login_id, "ANNA@example.ru",
                                           telegram_user_id=1, now=NOW, caps=CAPS)  # fmt: skip
    with pytest.raises(profile.EmailTaken):
        await profile.request_email_change(session, login_id, "taken@example.ru",
                                           telegram_user_id=1, now=NOW, caps=CAPS)  # fmt: skip

    first = await profile.request_email_change(
        session, login_id, "Anna.New@Example.ru", telegram_user_id=1, now=NOW, caps=CAPS
    )
    later = NOW + timedelta(minutes=2)
    letter = await profile.request_email_change(
        session, login_id, "anna.new@example.ru", telegram_user_id=1, now=later, caps=CAPS
    )
    assert letter.email == "anna.new@example.ru" and auth.looks_like_code(letter.code)
    assert (await profile.get_profile(session, login_id)).email == "anna@example.ru"
    assert (await profile.get_profile(session, login_id, now=later)).pending_email == letter.email
    with pytest.raises(auth.BadToken):  # only the newest letter works
        await profile.confirm_email_change_link(session, first.token, telegram_user_id=1, now=later)
    with pytest.raises(auth.BadToken):
        await profile.confirm_email_change_code(session, login_id, "AAAA-AAAA", telegram_user_id=1,
                                                now=later)  # fmt: skip
    with pytest.raises(auth.BadToken):  # another login cannot use the code
        await profile.confirm_email_change_code(session, 999, letter.code, telegram_user_id=2,
                                                now=later)  # fmt: skip

    changed = await profile.confirm_email_change_code(
        session, login_id, letter.code.lower(), telegram_user_id=1, now=later
    )
    assert (changed.old_email, changed.new_email) == ("anna@example.ru", "anna.new@example.ru")
    assert (await profile.get_profile(session, login_id)).email == "anna.new@example.ru"
    assert await profile.pending_email_change(session, login_id, now=later) is None
    with pytest.raises(auth.BadToken) as used:
        await profile.confirm_email_change_link(
            session, letter.token, telegram_user_id=1, now=later
        )
    assert used.value.reason is auth.TokenProblem.USED
    # The old address is free again; the new one logs in.
    await auth.log_in(session, "anna.new@example.ru", PASSWORD, telegram_user_id=1, chat_id=1,
                      now=later)  # fmt: skip


async def test_an_email_change_link_expires(session: AsyncSession) -> None:
    login_id = await make_login(session)
    letter = await profile.request_email_change(
        session, login_id, "late@example.ru", telegram_user_id=1, now=NOW, caps=CAPS
    )
    with pytest.raises(auth.BadToken) as expired:
        await profile.confirm_email_change_link(
            session, letter.token, telegram_user_id=1, now=NOW + timedelta(hours=25)
        )
    assert expired.value.reason is auth.TokenProblem.EXPIRED
    assert (await profile.get_profile(session, login_id)).email == "anna@example.ru"


async def test_wrong_old_passwords_are_counted_then_locked(session: AsyncSession) -> None:
    login_id = await make_login(session)
    lefts = []
    for _ in range(profile.OLD_PASSWORD_LIMIT - 1):
        with pytest.raises(profile.WrongPassword) as wrong:
            await profile.check_current_password(session, login_id, "Wrong2026pass",
                                                 telegram_user_id=1, now=NOW)  # fmt: skip
        lefts.append(wrong.value.left)
    assert lefts == [4, 3, 2, 1]
    with pytest.raises(profile.PasswordChangeLocked) as locked:
        await profile.check_current_password(session, login_id, "Wrong2026pass",
                                             telegram_user_id=1, now=NOW)  # fmt: skip
    assert locked.value.until == NOW + profile.OLD_PASSWORD_LOCK
    with pytest.raises(profile.PasswordChangeLocked):  # even the right one, while locked
        await profile.check_current_password(session, login_id, PASSWORD, telegram_user_id=1,
                                             now=NOW + timedelta(minutes=1))  # fmt: skip
    assert (
        await profile.password_change_locked_until(session, login_id, telegram_user_id=1, now=NOW)
        == NOW + profile.OLD_PASSWORD_LOCK
    )
    after = NOW + profile.OLD_PASSWORD_LOCK + timedelta(seconds=1)
    await profile.check_current_password(session, login_id, PASSWORD, telegram_user_id=1, now=after)


async def test_password_change_logs_out_the_other_sessions(session: AsyncSession) -> None:
    login_id = await make_login(session)
    await bind_login(session, 7, 7, login_id)  # the same login on another phone
    await session.commit()
    await profile.check_current_password(session, login_id, PASSWORD, telegram_user_id=1, now=NOW)
    new_hash = await auth.take_new_password(session, "Brand2new", telegram_user_id=1, now=NOW)
    assert await profile.change_password(
        session, login_id, new_hash, telegram_user_id=1, now=NOW
    ) == [7]
    login = await session.get(Login, login_id)
    assert login is not None and await verify_password(login.password_hash, "Brand2new")
    assert login.password_changed_at == NOW
    other = await session.get(TelegramIdentity, 7)
    mine = await session.get(TelegramIdentity, 1)
    assert other is not None and other.login_id is None
    assert mine is not None and mine.login_id == login_id
    notice = await session.scalar(select(Notification).where(Notification.chat_id == 7))
    assert notice is not None and notice.kind == auth.LOGGED_OUT_KIND


async def test_erasure_keeps_billing_and_forgets_the_person(
    session: AsyncSession, tmp_path: Path
) -> None:
    login_id = await make_login(session)
    passport = await store_file(session, tmp_path, PDF + b"passport", filename="паспорт.pdf",
                                limit_mb=1)  # fmt: skip
    photo = await store_file(session, tmp_path, PDF + b"shared", filename="a.pdf", limit_mb=1)
    someone_elses = await store_file(session, tmp_path, PDF + b"shared", filename="b.pdf",
                                     limit_mb=1)  # fmt: skip
    application = ContractApplication(login_id=login_id, object_type=ObjectType.APARTMENT,
                                      address="г. Магнитогорск, ул. Мира, д. 1, кв. 2")  # fmt: skip
    appeal = Appeal(login_id=login_id, topic=AppealTopic.OTHER)
    session.add_all([application, appeal])
    await session.flush()
    session.add(ContractDocument(application_id=application.id, kind="passport",
                                 stored_file_id=passport.id))  # fmt: skip
    message = AppealMessage(appeal_id=appeal.id, direction=MessageDirection.FROM_SUBSCRIBER,
                            body="Мой телефон +79991234567")  # fmt: skip
    session.add(message)
    await session.flush()
    session.add(AppealAttachment(message_id=message.id, stored_file_id=photo.id))
    await session.commit()
    passport_path, shared_path = passport.storage_path, photo.storage_path
    assert shared_path == someone_elses.storage_path
    await bind_login(session, 7, 7, login_id)
    account = Account(number="7400000101", holder_surname="Петрова", holder_name="Анна",
                      address="г. Магнитогорск, ул. Мира, д. 1")  # fmt: skip
    session.add(account)
    await session.flush()
    account_id = account.id
    session.add(AccountLink(login_id=login_id, account_id=account_id, is_current=True))
    session.add(Payment(account_id=account.id, login_id=login_id, telegram_user_id=1,
                        amount=Decimal("100.00"), channel=PaymentChannel.TELEGRAM,
                        status=PaymentStatus.SUCCEEDED, payload="p-1", paid_at=NOW))  # fmt: skip
    await session.commit()
    await profile.get_subscriptions(session, login_id, now=NOW)
    await profile.request_email_change(session, login_id, "next@example.ru", telegram_user_id=1,
                                       now=NOW, caps=CAPS)  # fmt: skip

    erased = await profile.erase_personal_data(
        session, login_id, telegram_user_id=1, now=NOW, upload_dir=tmp_path
    )
    assert sorted(erased.telegram_user_ids) == [1, 7]
    session.expire_all()
    login = await session.get(Login, login_id)
    assert login is not None
    assert login.email == f"erased-{login_id}@{profile.ERASED_DOMAIN}"
    assert (login.phone, login.surname, login.name, login.patronymic, login.password_hash) == (
        "",
        "",
        "",
        None,
        "",
    )
    assert login.consent_withdrawn_at == NOW and login.consent_version == "2026-01"
    for user in (1, 7):
        identity = await session.get(TelegramIdentity, user)
        assert identity is not None and identity.login_id is None
    for model in (
        AccountLink, Subscription, EmailToken, ContractApplication, ContractDocument, Appeal,
        AppealMessage, AppealAttachment,
    ):  # fmt: skip
        assert await session.scalar(select(func.count()).select_from(model)) == 0, model
    assert list(await session.scalars(select(StoredFile.storage_path))) == [shared_path]
    assert not (tmp_path / passport_path).exists()
    assert (tmp_path / shared_path).exists()  # another upload of the same content keeps it
    payment = await session.scalar(select(Payment))
    assert payment is not None and payment.login_id == login_id  # the history stays
    assert await session.get(Account, account_id) is not None
    notice = await session.scalar(select(Notification).where(Notification.chat_id == 7))
    assert notice is not None and notice.kind == profile.ERASED_KIND
    event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "profile.erased"))
    assert event is not None and event.details["consent_version"] == "2026-01"
    assert "anna" not in str(event.details)
    with pytest.raises(auth.WrongCredentials):
        await auth.log_in(session, "anna@example.ru", PASSWORD, telegram_user_id=1, chat_id=1,
                          now=NOW)  # fmt: skip
    with pytest.raises(NotFound):
        await profile.get_profile(session, login_id)
