"""Domain errors; handlers map each to a Russian message from `bot.texts`."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the request; the message is for logs, not for users."""


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass
