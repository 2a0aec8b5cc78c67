"""The staff side: who counts as staff (a member of the staff group chat, `STAFF_CHAT_ID`).

Every staff action in any section (contract applications, appeals) asks `StaffDirectory`;
membership comes from Telegram's `getChatMember` and is cached briefly, so a removed member
loses access within a minute and a busy chat does not cost one API call per button press.
"""

from __future__ import annotations

import logging
import time

from aiogram import Bot
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError

from bot.settings import Settings

log = logging.getLogger(__name__)

STAFF_STATUSES = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
CACHE_SECONDS = 60.0


class StaffDirectory:
    """Answers «is this Telegram user staff?»; one per running bot (handlers get it as `staff`)."""

    def __init__(self, settings: Settings, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.chat_id = settings.staff_chat_id
        self._cache_seconds = cache_seconds
        self._cache: dict[int, tuple[float, bool]] = {}

    def is_staff_chat(self, chat_id: int) -> bool:
        return self.chat_id is not None and chat_id == self.chat_id

    async def is_staff(self, bot: Bot, user_id: int) -> bool:
        """A failed lookup (Telegram unreachable) is «no» and is not cached."""
        if self.chat_id is None:
            return False
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        try:
            member = await bot.get_chat_member(self.chat_id, user_id)
        except TelegramAPIError:
            log.warning("could not check staff membership of user %s", user_id)
            return False
        answer = member.status in STAFF_STATUSES
        self._cache[user_id] = (now, answer)
        return answer
