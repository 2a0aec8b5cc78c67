"""«📄 Договоры» end to end: linking with right and wrong data, lockout, switching, unlinking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.texts import accounts as texts
from bot.texts import common as common_texts
from models import AccountLink
from services.identity import resolve_viewer
from tests.e2e.conftest import Cabinet

USER = 1001


async def _type_and_save(user: Any, number: str, surname: str, serial: str) -> None:
    """From the account number question to «Подключить» under the summary: one confirmation."""
    await user.send(number)
    await user.expect("Шаг 2 из 3. Введите фамилию владельца")
    await user.send(surname)
    await user.expect("Шаг 3 из 3.")
    await user.send(serial)
    summary = await user.expect("Проверьте данные")
    assert summary.inline_buttons == [
        [texts.BTN_LINK_CONFIRM],
        [common_texts.BTN_BACK, common_texts.BTN_CANCEL],
    ]
    await user.press(texts.BTN_LINK_CONFIRM)


async def _link(user: Any, number: str, surname: str, serial: str) -> None:
    """The whole LinkAccount dialog from the «Договоры» section."""
    await user.press(texts.BTN_LINK)
    first = await user.expect("Шаг 1 из 3. Введите номер лицевого счёта")
    assert "Тип абонента — Физ.лицо" in first.text  # the one type there is: chosen, and said
    await _type_and_save(user, number, surname, serial)


async def _current_number(cabinet: Cabinet) -> str | None:
    async with cabinet.sessions() as session:
        viewer = await resolve_viewer(session, USER, USER)
        return viewer.account.number if viewer.account else None


async def test_link_with_right_data_then_switch_and_unlink(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    await cabinet.login_as(USER)
    first, second = demo.accounts[0], demo.accounts[3]
    user = cabinet.user(USER)

    await user.send("📄 Договоры")
    await user.expect(f"№ {first.number}")
    await _link(user, second.number, second.holder_surname.upper(), second.serials[0])
    linked = await user.expect("Лицевой счёт подключён")
    assert second.number in linked.content_text and "Владелец" in linked.content_text
    assert (
        linked.reply_keyboard is not None and common_texts.MENU_READINGS in linked.reply_keyboard[1]
    )
    offer = await user.expect(f"Сделать текущим лицевой счёт № {second.number}?")
    assert offer.inline_buttons == [[texts.BTN_MAKE_CURRENT]]  # a button, not «go to …»
    assert await _current_number(cabinet) == first.number  # the first account stays current

    await user.press(texts.BTN_MAKE_CURRENT, message=offer)
    await user.expect(f"Текущий лицевой счёт — № {second.number}")
    assert await _current_number(cabinet) == second.number
    async with cabinet.sessions() as session:
        current = (
            await session.scalars(select(AccountLink).where(AccountLink.is_current.is_(True)))
        ).all()
        assert len(current) == 1

    await user.press(f"✅ № {second.number}")
    await user.expect("Владелец")
    await user.press("Отвязать")
    await user.expect("Отвязать лицевой счёт")
    await user.press("Да, отвязать")
    done = await user.expect(f"Лицевой счёт № {second.number} отвязан")
    assert f"Текущим теперь стал лицевой счёт № {first.number}" in done.content_text
    assert await _current_number(cabinet) == first.number


async def test_wrong_data_is_neutral_and_already_linked_is_said(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    await cabinet.login_as(USER)
    target = demo.accounts[5]
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")

    await _link(user, target.number, target.holder_surname, "00000000")
    wrong_meter = await user.expect("не совпадают")
    await _type_and_save(user, target.number, "Неправильная", target.serials[0])
    wrong_surname = await user.expect("не совпадают")
    assert "Осталось 3 попытки" in wrong_surname.content_text

    def neutral(text: str) -> str:  # the same wording whichever field was wrong
        return text.split("Осталось")[0]

    assert neutral(wrong_meter.content_text) == neutral(wrong_surname.content_text)

    await _type_and_save(user, target.number, target.holder_surname, target.serials[0])
    await user.expect("Лицевой счёт подключён")

    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press(texts.BTN_LINK)
    await user.expect("номер лицевого счёта")
    await user.press(common_texts.BTN_BACK)  # from the first step: back to the accounts
    back = await user.expect(texts.BACK_TO_ACCOUNTS)
    assert back.reply_keyboard is not None and common_texts.MENU_READINGS in back.reply_keyboard[1]
    await user.expect("Ваши лицевые счета")
    await user.press(texts.BTN_LINK)
    await user.expect("номер лицевого счёта")
    await user.send(demo.accounts[0].number)
    await user.expect("уже подключён к вашей учётной записи")


async def test_five_failures_lock_linking_until_tomorrow(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    await cabinet.login_as(USER)
    target = demo.accounts[2]
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await _link(user, target.number, "Ошибкин", target.serials[0])
    for _ in range(3):
        await user.expect("не совпадают")
        await _type_and_save(user, target.number, "Ошибкин", target.serials[0])
    await user.expect("не совпадают")
    await _type_and_save(user, target.number, target.holder_surname, "999")
    await user.expect("временно недоступно")

    # Even the right data is refused until midnight in the supplier's time zone.
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press(texts.BTN_LINK)
    await user.expect("Попробуйте снова с 00:00 21.11.2026")

    cabinet.clock.set(datetime(2026, 11, 20, 23, 59))
    await user.press(texts.BTN_LINK)
    await user.expect("временно недоступно")
    cabinet.clock.advance(timedelta(minutes=2))  # past midnight in Moscow
    await _link(user, target.number, target.holder_surname, target.serials[0])
    await user.expect("Лицевой счёт подключён")


async def test_first_linked_account_becomes_current(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    async with cabinet.sessions() as session:
        link = await session.scalar(select(AccountLink).where(AccountLink.login_id == login_id))
        assert link is not None
        await session.delete(link)
        await session.commit()
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("пока не подключён ни один")
    target = demo.accounts[7]
    await _link(user, target.number, target.holder_surname, target.serials[0])
    linked = await user.expect("Лицевой счёт подключён")
    assert "Это ваш текущий лицевой счёт" in linked.content_text
    assert await _current_number(cabinet) == target.number


async def test_double_press_of_save_links_once(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    login_id = await cabinet.login_as(USER)
    target = demo.accounts[4]
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await user.press(texts.BTN_LINK)
    await user.expect("номер лицевого счёта")
    await user.send(target.number)
    await user.expect("фамилию владельца")
    await user.send(target.holder_surname)
    await user.expect("заводской номер")
    await user.send(target.serials[0])
    prompt = await user.expect("Проверьте данные")
    save = prompt.inline_keyboard[0][0]
    assert save["text"] == texts.BTN_LINK_CONFIRM
    await user.press_button(prompt, save)
    await user.press_button(prompt, save)  # the second tap arrives before the first is done
    await user.expect("Лицевой счёт подключён")
    answer = await user.expect_callback_answer()
    assert answer.text is not None and "устарела" in answer.text
    assert not any("уже подключён" in m.content_text for m in user.bot_messages)
    async with cabinet.sessions() as session:
        links = (
            await session.scalars(select(AccountLink).where(AccountLink.login_id == login_id))
        ).all()
        assert len(links) == 2


async def test_old_account_card_after_unlink_is_refused_politely(cabinet: Cabinet) -> None:
    demo = await cabinet.seed_demo()
    await cabinet.login_as(USER)
    first, second = demo.accounts[0], demo.accounts[6]
    user = cabinet.user(USER)
    await user.send("📄 Договоры")
    await user.expect("Ваши лицевые счета")
    await _link(user, second.number, second.holder_surname, second.serials[0])
    await user.expect("Лицевой счёт подключён")
    await user.expect("Сделать текущим лицевой счёт")

    await user.send("📄 Договоры")
    old_list = await user.expect(second.number)
    await user.send("📄 Договоры")
    await user.expect(second.number)
    await user.press(f"№ {second.number}")
    await user.expect("Адрес")
    await user.press("Отвязать")
    question = await user.expect("Отвязать лицевой счёт")
    await user.press("Да, отвязать", message=question)
    done = await user.expect(f"Лицевой счёт № {second.number} отвязан")
    assert "Текущим теперь" not in done.content_text  # the current account did not change

    await user.press(f"№ {second.number}", message=old_list)  # a card from before the unlink
    answer = await user.expect_callback_answer()
    assert answer.text is not None and "уже не подключён" in answer.text
    assert await _current_number(cabinet) == first.number
