"""The rollup keeps stat_month up to date by difference (issue 14 §3): each
rolled day is added into its month (per partner, caisse-wide, national), a day
rolled again first takes its old rows out. Compared here with the month
recomputed from stat_day (statistics.refresh_month), and the backfill with
the nights rolled one by one. The same for stat_year and the indicator
tables' rows (stat_month_table, stat_year_table: statistics.refresh_table)."""
from datetime import date

from sqlalchemy import delete, select, update

from ep_web.domain import statistics
from ep_web.extensions import db
from ep_web.models import Demande, Outcome, StatDay, StatMonth, StatMonthTable, StatState, StatYear, StatYearTable
from ep_web.models.stats import ALL_CAISSES, ALL_PARTNERS, COUNTS, MEASURES, TABLE_EXTRAS, TABLE_MEASURES

DERIVED = (StatMonth, StatYear, StatMonthTable, StatYearTable)


def _rows(model):
    table = model.__table__
    return sorted(tuple(r) for r in db.session.execute(select(*table.columns)))


def _snapshot():
    return (_rows(StatDay), *[_rows(m) for m in DERIVED])


def _months():
    return sorted(set(db.session.scalars(select(StatMonth.month))) | {
        statistics.month_start(d) for d in db.session.scalars(select(StatDay.day))})


def _recomputed():
    """stat_month and stat_year as refresh_month and refresh_year compute them
    from stat_day, and the tables' rows as refresh_table computes them from
    those (the reference)."""
    months = _months()
    years = sorted({m.replace(month=1) for m in months})
    for month in months:
        statistics.refresh_month(month)
        statistics.refresh_table(StatMonthTable, month)
    for year in years:
        statistics.refresh_year(year)
        statistics.refresh_table(StatYearTable, year)
    db.session.flush()
    return tuple(_rows(m) for m in DERIVED)


def _clear():
    for model in (StatDay, *DERIVED):
        db.session.execute(delete(model))
    db.session.execute(update(StatState).values(rolled_through=None))
    db.session.flush()


def test_rolling_days_again_changes_nothing(world):
    statistics.rollup()
    db.session.commit()
    before = _snapshot()
    assert all(before)
    # One day, then a span across a new year (three days, two months, two years).
    assert statistics.rollup_days(date(2026, 3, 1), date(2026, 3, 1)) >= 1
    assert statistics.rollup_days(date(2025, 12, 31), date(2026, 1, 2)) >= 2
    db.session.flush()
    assert _snapshot() == before
    statistics.rollup_days(date(2026, 3, 1), date(2026, 3, 1))
    db.session.flush()
    assert _snapshot() == before
    # The months and years kept by difference are those recomputed from their days.
    assert _recomputed() == before[1:]


def test_a_day_rolled_again_after_a_change_moves_its_month(world):
    w = world
    statistics.rollup()
    db.session.commit()
    sept = date(2025, 9, 1)

    def created(caisse_id, partenaire_id):
        return db.session.scalar(select(StatMonth.created).where(
            StatMonth.month == sept, StatMonth.caisse_id == caisse_id, StatMonth.partenaire_id == partenaire_id,
            StatMonth.service == "signalement", StatMonth.outcome == ""))

    # d5 was counted at B on 1 September (the night before it was sent on to A).
    assert created(w.b.id, w.p.id) == 1 and created(w.b.id, ALL_PARTNERS) == 1
    assert created(ALL_CAISSES, ALL_PARTNERS) == 1 and not created(w.a.id, w.p.id)
    # Rolled again now, the day finds d5 at A: B's counts go, A's come.
    statistics.rollup_days(sept, sept)
    db.session.flush()
    assert not created(w.b.id, w.p.id) and not created(w.b.id, ALL_PARTNERS)
    assert created(w.a.id, w.p.id) == 1 and created(w.a.id, ALL_PARTNERS) == 1
    assert created(ALL_CAISSES, ALL_PARTNERS) == 1
    for model, measures in ((StatMonth, MEASURES), (StatYear, MEASURES), (StatMonthTable, TABLE_MEASURES),
                            (StatYearTable, TABLE_MEASURES)):
        zeros = db.session.scalar(select(db.func.count()).select_from(model).where(
            *[getattr(model, m) == 0 for m in measures]))
        assert zeros == 0, model
    # The tables' rows moved too: B's partner lost its signalement of September, A's has it.
    table = {(r.caisse_id, r.partenaire_id): r.signalements for r in db.session.scalars(
        select(StatMonthTable).where(StatMonthTable.month == sept))}
    assert not table.get((w.b.id, w.p.id)) and table[(w.a.id, w.p.id)] >= 1
    assert tuple(_rows(m) for m in DERIVED) == _recomputed()


def test_the_backfill_equals_the_nights_one_by_one(world):
    # Every demande stays where it is now (d5 at A) for both ways of rolling.
    _clear()
    first = statistics._first_fact_day()
    assert first == date(2025, 3, 10)
    day = first
    while day <= date(2026, 3, 1):  # each night rolls the day before
        statistics.rollup(through=day)
        day += statistics.DAY
    nightly = _snapshot()
    assert db.session.get(StatState, 1).rolled_through == date(2026, 3, 1)
    _clear()
    counts = statistics.rollup()  # the catch-up of a whole history: a month at once
    assert counts["days"] == (date(2026, 3, 1) - first).days + 1
    assert _snapshot() == nightly
    assert _recomputed() == nightly[1:]
    # Rolled after d5 went on to A, 2025 at A counts d1 to d5 (4 of them closed).
    fig = statistics.read(date(2025, 1, 1), date(2025, 12, 31), group=("caisse_id",))
    assert fig[(world.a.id,)]["created"] == 5 and fig[(world.a.id,)]["closed"] == 4
    assert db.session.scalar(select(db.func.count()).select_from(Demande)) == 8


def _by_hand(first, last, group, extras, **scope):
    """The same sums from the demandes alone (day_facts), the reference."""
    out = {}
    for (_day, caisse_id, partenaire_id, service, outcome), values in statistics.day_facts(
            first, last, **scope).items():
        dims = dict(caisse_id=caisse_id, partenaire_id=partenaire_id, service=service, outcome=outcome)
        acc = out.setdefault(tuple(dims[g] for g in group), {})
        for m in MEASURES:
            acc[m] = acc.get(m, 0) + values[m]
        for name, (m, svc, outs) in extras.items():
            if (svc is None or service == svc) and (outs is None or outcome in outs):
                acc[name] = acc.get(name, 0) + values[m]
    return _nonzero(out)


def _sum_months(rows):
    out = {}
    for (_month, *key), values in rows.items():
        acc = out.setdefault(tuple(key), {})
        for m, n in values.items():
            acc[m] = acc.get(m, 0) + n
    return out


def _nonzero(rows):
    return {k: {m: n for m, n in v.items() if n} for k, v in rows.items() if any(v.values())}


def test_every_way_of_reading_a_period_gives_the_demandes_figures(world):
    """Whole months, the current month up to the last rolled day, a month's
    edge as its days or as the month minus the others, today live: read()
    equals the sums of the demandes' facts over any period."""
    w = world
    _clear()
    statistics.rollup()  # rolled through 1 March 2026, today (2 March) read live
    extras = {"signalements": ("created", "signalement", None),
              "mas": ("closed", None, (Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT.value,)),
              "parcours": ("closed", "signalement", (Outcome.PARCOURS_CREE.value,
                                                     Outcome.PARCOURS_CLOTURE_SOINS.value))}
    periods = [(date(2025, 1, 1), date(2025, 12, 31)), (date(2025, 2, 10), date(2025, 12, 20)),
               (date(2025, 4, 1), date(2025, 11, 30)), (date(2026, 1, 1), date(2026, 12, 31)),
               (date(2025, 3, 15), date(2026, 2, 10)), (date(2025, 3, 5), date(2025, 3, 25)),
               (date(2025, 3, 11), date(2025, 3, 20)), (date(2025, 6, 2), date(2025, 9, 30)),
               (date(2026, 3, 1), date(2026, 3, 2)), (date(2026, 2, 1), date(2026, 3, 1)),
               (date(2026, 2, 27), date(2026, 3, 1)), (date(2025, 12, 31), date(2026, 1, 2)),
               (date(2024, 1, 1), date(2026, 12, 31))]
    groups = [(), ("caisse_id",), ("partenaire_id",), ("caisse_id", "partenaire_id", "service", "outcome")]
    scopes = [dict(), dict(caisse_ids=[w.a.id]), dict(caisse_ids=[w.a.id], partenaire_ids=[w.p.id])]
    checked = extra = 0
    for first, last in periods:
        for group in groups:
            for scope in scopes:
                got = _nonzero(statistics.read(first, last, group=group, extras=extras, **scope))
                monthly = _nonzero(statistics.read(first, last, group=group, extras=extras, by_month=True,
                                                   **scope))
                assert _nonzero(_sum_months(monthly)) == got
                assert got == _by_hand(first, min(last, date(2026, 3, 2)), group, extras, **scope), (
                    first, last, group, scope)
                checked += bool(got)
                extra += sum(v.get("mas", 0) + v.get("parcours", 0) for v in got.values())
    assert checked > 40 and extra > 10
    # The indicator tables' columns by caisse or partner: years and months from
    # stat_year_table and stat_month_table, the same figures as the demandes'.
    wanted = set(COUNTS) | set(TABLE_EXTRAS)
    served = followed = 0
    for first, last in periods:
        for group in groups[:3]:
            for scope in scopes:
                assert statistics._table_columns(group, COUNTS, TABLE_EXTRAS, None, None) is not None
                got = _nonzero(statistics.read(first, last, group=group, measures=COUNTS, extras=TABLE_EXTRAS,
                                               **scope))
                monthly = _nonzero(statistics.read(first, last, group=group, measures=COUNTS, extras=TABLE_EXTRAS,
                                                   by_month=True, **scope))
                assert _nonzero(_sum_months(monthly)) == got
                hand = _by_hand(first, min(last, date(2026, 3, 2)), group, TABLE_EXTRAS, **scope)
                assert got == _nonzero({k: {m: n for m, n in v.items() if m in wanted} for k, v in hand.items()}), (
                    first, last, group, scope)
                served += bool(got)
                followed += sum(v.get("closed_mas", 0) + v.get("closed_parcours", 0) + v.get("signalements", 0)
                                for v in got.values())
    assert served > 30 and followed > 10
    # A period reaching the last rolled day reads its month and year from stat_month and stat_year.
    rolled = date(2026, 3, 1)
    march, january = date(2026, 3, 1), date(2026, 1, 1)
    assert statistics._plan(march, rolled, rolled, True) == [("month", march, march, 1)]
    assert statistics._plan(january, rolled, rolled, True) == [("year", january, january, 1)]
    # Most of a month: the month minus the days left out; most of a year, the year minus the rest.
    assert statistics._plan(date(2025, 3, 5), date(2025, 3, 25), rolled, False) == [
        ("month", date(2025, 3, 1), date(2025, 3, 1), 1), ("day", date(2025, 3, 1), date(2025, 3, 4), -1),
        ("day", date(2025, 3, 26), date(2025, 3, 31), -1)]
    assert statistics._plan(date(2025, 3, 15), date(2025, 12, 31), rolled, False) == [
        ("year", date(2025, 1, 1), date(2025, 1, 1), 1), ("month", date(2025, 1, 1), date(2025, 1, 1), -1),
        ("month", date(2025, 2, 1), date(2025, 2, 1), -1), ("day", date(2025, 3, 1), date(2025, 3, 14), -1)]
    # A monthly series never reads years.
    assert {p[0] for p in statistics._plan(date(2025, 1, 1), date(2025, 12, 31), rolled, False, years=False)} == {
        "month"}


def test_the_delay_buckets_counted_in_sql_are_the_models(app):
    from sqlalchemy import Numeric, cast, literal

    from ep_web.models.stats import DELAY_BUCKETS, bucket_of

    pg = db.session.get_bind().dialect.name == "postgresql"  # width_bucket there
    days = list(range(0, 130)) + [365, 10_000]
    # Whole days are numeric on PostgreSQL (floor of extract), integers on SQLite.
    for value in (lambda d: literal(d), lambda d: literal(float(d)), lambda d: cast(literal(d), Numeric)):
        got = db.session.execute(select(*[statistics._bucket(value(d), pg) for d in days])).one()
        assert list(got) == [bucket_of(d) for d in days]
        # A negative delay (a clock set wrong): the last bucket, as it always was.
        for d in (-1, -2, -400):
            assert db.session.scalar(select(statistics._bucket(value(d), pg))) == len(DELAY_BUCKETS) - 1


def test_a_key_whose_facts_all_moved_away_leaves_no_row(world):
    """d2 (P at A, sent, taken and closed in June 2025: the only demande of that
    month) repaired to Q, its days rolled again: P's keys of June, and P's
    parcours created of 2025, are deleted, not left at zero."""
    w = world
    statistics.rollup()
    db.session.commit()
    june, y2025 = date(2025, 6, 1), date(2025, 1, 1)
    assert db.session.scalar(select(StatMonthTable.created).where(
        StatMonthTable.month == june, StatMonthTable.caisse_id == w.a.id, StatMonthTable.partenaire_id == w.p.id)) == 1
    w.d2.partenaire_id = w.q.id
    db.session.commit()
    statistics.rollup_days(date(2025, 6, 1), date(2025, 6, 4))
    db.session.flush()
    for model in (StatMonth, StatMonthTable):
        assert not db.session.scalars(select(model).where(model.month == june, model.partenaire_id == w.p.id)).all()
    assert db.session.scalar(select(StatYear.closed).where(
        StatYear.year == y2025, StatYear.caisse_id == w.a.id, StatYear.partenaire_id == w.p.id,
        StatYear.outcome == Outcome.PARCOURS_CREE.value)) is None
    assert db.session.scalar(select(StatYear.closed).where(
        StatYear.year == y2025, StatYear.caisse_id == w.a.id, StatYear.partenaire_id == w.q.id,
        StatYear.outcome == Outcome.PARCOURS_CREE.value)) == 1
    for model, measures in ((StatMonth, MEASURES), (StatYear, MEASURES), (StatMonthTable, TABLE_MEASURES),
                            (StatYearTable, TABLE_MEASURES)):
        zeros = db.session.scalar(select(db.func.count()).select_from(model).where(
            *[getattr(model, m) == 0 for m in measures]))
        assert zeros == 0, model
    assert tuple(_rows(m) for m in DERIVED) == _recomputed()
