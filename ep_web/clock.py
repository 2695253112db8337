"""Time is injected: tests replace the clock, code never sleeps or calls now() directly."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock(Clock):
    """A clock the tests move."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.at = self.at + timedelta(**delta)


_default = Clock()


def _clock() -> Clock:
    if has_app_context():
        return current_app.extensions.get("ep_clock", _default)
    return _default


def now() -> datetime:
    return _clock().now()


def today() -> date:
    """Today in Europe/Paris: the rules speak of the caisse's calendar days."""
    return now().astimezone(PARIS).date()


def to_paris(value: datetime | None) -> datetime | None:
    return value.astimezone(PARIS) if value else None
