"""A local Telegram Bot API emulator with scripted users, owned by the project for its tests."""

from emulator.errors import ApiError
from emulator.server import BotAPIEmulator, WebhookAttempt, WebhookConfig
from emulator.state import (
    ApiCall,
    BotMessage,
    CallbackAnswer,
    ChatEvent,
    ChatMessage,
    ChatState,
    StoredFile,
    UserMessage,
)
from emulator.users import GroupChat, GroupMember, Participant, ScriptedUser

__all__ = [
    "ApiCall",
    "ApiError",
    "BotAPIEmulator",
    "BotMessage",
    "CallbackAnswer",
    "ChatEvent",
    "ChatMessage",
    "ChatState",
    "GroupChat",
    "GroupMember",
    "Participant",
    "ScriptedUser",
    "StoredFile",
    "UserMessage",
    "WebhookAttempt",
    "WebhookConfig",
]
