"""Calendar rules: working days (SPEC §3: the caisse creates a gestionnaire
within 5 working days of the request, French public holidays excluded) and the
one-year term of conventions (SPEC §2)."""
from datetime import date, timedelta
from functools import cache

from sqlalchemy import Date, case, cast, func, literal, select, text, type_coerce

from ep_web.extensions import db


@cache
def _french_holidays():
    """Imported at first use: the holidays package loads every country's calendar."""
    import holidays

    return holidays.France()  # fills years as they are asked for


def is_working_day(day: date) -> bool:
    """SPEC §3: a weekday that is not a French public holiday."""
    return day.weekday() < 5 and day not in _french_holidays()


def add_working_days(start: date, days: int) -> date:
    """SPEC §3: the date ``days`` working days after ``start`` (start itself not counted)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def _plus_one_year_sql(value):
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(value.op("+")(text("interval '1 year'")), Date)
    # SQLite's date(…, '+1 year') turns 29 February into 1 March.
    return type_coerce(case(
        (func.strftime("%m-%d", value) == "02-29", func.date(value, "-1 day", "+1 year")),
        else_=func.date(value, "+1 year"),
    ), Date)


def one_year_after(value):
    """SPEC §2: a convention ends one year after its signature by default, and a
    renewal (express or tacit) adds one year; 29 February gives 28 February.

    One rule for both paths: given a column, the SQL expression of the
    set-based tacit renewal (ep_web.domain.lifecycle); given a date, the
    database computes that same expression."""
    if isinstance(value, date):
        return db.session.scalar(select(_plus_one_year_sql(literal(value, Date))))
    return _plus_one_year_sql(value)
