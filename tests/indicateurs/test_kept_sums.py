"""The sums of rolled days a process keeps (statistics._Past, issue 14 §3):
keyed by the stat tables' version, which every write sets anew, and by the
read's scope; today's facts are always read."""
from datetime import date

from sqlalchemy import event, select, update

from ep_web.domain import statistics
from ep_web.extensions import db
from ep_web.models import StatState, StatYearTable
from ep_web.models.stats import COUNTS


def _stat_statements(fn):
    seen = []

    def listen(conn, cursor, statement, *args):
        if "stat_year" in statement or "stat_month" in statement or "stat_day" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        result = fn()
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    return result, len(seen)


def _read(**scope):
    statistics._forget_cache()  # a new request: the version is read again
    return statistics.read_vectors(date(2025, 1, 1), date(2025, 12, 31), group=("partenaire_id",),
                                   measures=COUNTS, **scope)


def test_kept_sums_follow_the_version_and_the_scope(world, nightly):
    w = world
    first, n = _stat_statements(lambda: _read(caisse_ids=[w.a.id]))
    assert n == 1 and first[(w.p.id,)][0] == 4  # 2025 at A: d1 to d4 sent by P
    again, n = _stat_statements(lambda: _read(caisse_ids=[w.a.id]))
    assert n == 0 and again == first  # kept
    # Another scope is read for itself, never served from A's.
    at_b, n = _stat_statements(lambda: _read(caisse_ids=[w.b.id]))
    assert n == 1 and at_b != first
    # A change of the figures without a new version would not be seen (what the
    # version is for: this proves the sums are kept)...
    row = dict(year=date(2025, 1, 1), caisse_id=w.a.id, partenaire_id=w.p.id)
    db.session.execute(update(StatYearTable).filter_by(**row).values(created=StatYearTable.created + 10))
    stale, _ = _stat_statements(lambda: _read(caisse_ids=[w.a.id]))
    assert stale[(w.p.id,)][0] == 4
    # ...any write sets one (another process's too: the version is read from
    # the database at each request), and the next read sees the new figures.
    before = db.session.scalar(select(StatState.version))
    db.session.execute(update(StatState).values(version=StatState.version + 1))
    fresh, n = _stat_statements(lambda: _read(caisse_ids=[w.a.id]))
    assert n == 1 and fresh[(w.p.id,)][0] == 14
    # The rollup and the repairs set a new version themselves.
    statistics.rollup_days(date(2025, 9, 1), date(2025, 9, 1))
    db.session.flush()
    assert db.session.scalar(select(StatState.version)) not in (before, before + 1)


def test_kept_sums_leave_todays_facts_to_each_read(world, nightly):
    from tests.indicateurs.conftest import demande, paris

    w = world
    year = lambda: statistics.read_vectors(date(2026, 1, 1), date(2026, 12, 31), group=("partenaire_id",),  # noqa: E731
                                           caisse_ids=[w.a.id], measures=COUNTS)
    statistics._forget_cache()
    before = year()[(w.p.id,)][0]
    demande(w.p, w.a, w.tp, "contact", paris(2026, 3, 2, 9, 30))  # today, before START
    statistics._forget_cache()
    assert year()[(w.p.id,)][0] == before + 1
