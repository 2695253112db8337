"""The date filters of the templates write what strftime writes (they format
the fields themselves, strftime being slow with the "à" of their format)."""
from datetime import date, datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ep_web.clock import to_paris


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)))
def test_dt_and_d_write_what_strftime_writes(app, value):
    dt, d = app.jinja_env.filters["dt"], app.jinja_env.filters["d"]
    local = to_paris(value)
    assert dt(value) == local.strftime("%d/%m/%Y à %H:%M")
    assert d(value) == local.date().strftime("%d/%m/%Y")
    assert d(value.date()) == value.date().strftime("%d/%m/%Y")


def test_dt_and_d_around_a_change_of_time_and_of_year(app):
    dt, d = app.jinja_env.filters["dt"], app.jinja_env.filters["d"]
    assert dt(datetime(2026, 3, 29, 0, 59, tzinfo=timezone.utc)) == "29/03/2026 à 01:59"
    assert dt(datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)) == "29/03/2026 à 03:00"
    assert dt(datetime(2026, 12, 31, 23, 5, tzinfo=timezone.utc)) == "01/01/2027 à 00:05"
    assert d(date(1950, 1, 2)) == "02/01/1950" and d(None) == "" and dt(None) == ""
