"""The time source handlers pass to services, so tests can freeze «today» without touching the OS clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def now(self) -> datetime:
        """Aware UTC now."""
        return datetime.now(UTC)

    def local_now(self) -> datetime:
        return self.now().astimezone(self.zone)

    def today(self) -> date:
        """Today in the supplier's time zone (TZ), which decides billing periods."""
        return self.local_now().date()


class FrozenClock(Clock):
    """A clock that stands still until moved; for tests and demos."""

    def __init__(self, zone: ZoneInfo, at: datetime) -> None:
        super().__init__(zone)
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone)
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = (at if at.tzinfo else at.replace(tzinfo=self.zone)).astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta
