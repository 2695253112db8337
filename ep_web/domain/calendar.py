"""Working days (SPEC §3: the caisse creates a gestionnaire within 5 working days
of the request, French public holidays excluded)."""
from datetime import date, timedelta

import holidays

_FR = holidays.France()  # lazily fills years as they are asked for


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _FR


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (start itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
