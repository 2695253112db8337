"""The statistics behind the follow-up indicators and the charts (SPEC §7).

Facts, each counted on the Paris day it happened, at the caisse and partner
the demande belonged to that day:

- ``created``: a demande sent (transmise);
- ``closed``: a demande closed, under its outcome, with the whole days from
  sending to closure in the ``close_d*`` histogram;
- ``taken``: the first answer (prise en charge), the days since sending in
  the ``first_d*`` histogram;
- ``complements``: a complement asked;
- ``sla_met`` / ``sla_missed``: a signalement taken within its 48 hours
  (counted the day it was taken) or not (counted the day its 48 hours ran out);
- ``moved_out`` / ``moved_in``: a demande sent on to another caisse
  (Demande.change_caisse), at the caisse it left and the one it reached, so
  that each caisse's open backlog stays right.

Once a day is over, none of its facts can change: the nightly job
(:func:`rollup`) writes the finished days into ``stat_day`` and adds them up by
month in ``stat_month`` (with caisse-wide rows), before the retention purge
removes the old demandes. The days after the last rolled one (today, or the
nights the job missed) are read live from the demandes with the same code
(:func:`day_facts`), so every figure is exact up to now. The rollup holds
counts only: no reference, no person.

Why rollup tables and not PostgreSQL materialized views: a view is recomputed
from the demandes, so the retention purge would erase past years' figures;
it would not exist on SQLite (the quick start); and its refresh rereads every
demande each night, where the rollup reads one day.
"""
from __future__ import annotations

import functools
from collections import OrderedDict, defaultdict
from datetime import date, datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    event,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ep_web.clock import PARIS, now, to_paris, today
from ep_web.extensions import db
from ep_web.models import Demande, DemandeEvent, DemandeStatus, Service
from ep_web.models.stats import (
    ALL_CAISSES,
    ALL_PARTNERS,
    CLOSE_HIST,
    COUNTS,
    DELAY_BUCKETS,
    FIRST_HIST,
    MEASURES,
    TABLE_EXTRAS,
    TABLE_MEASURES,
    StatDay,
    StatMonth,
    StatMonthTable,
    StatState,
    StatYear,
    StatYearTable,
    new_version,
)

KEY = ("caisse_id", "partenaire_id", "service", "outcome")
DAY = timedelta(days=1)


class Sums(dict):
    """Measures added up by read(): only those read are stored, any other one
    reads 0 (a table of 2 500 partners needs 13 numbers each, not MEASURES)."""

    def __missing__(self, measure: str) -> int:
        return 0


def empty() -> dict:
    return dict.fromkeys(MEASURES, 0)


def add(into: dict, other) -> dict:
    for m in MEASURES:
        into[m] += (other[m] if isinstance(other, dict) else getattr(other, m)) or 0
    return into


def day_start(day: date) -> datetime:
    """Paris midnight of ``day``, in UTC (the rollup's days are the caisse's calendar days)."""
    return datetime.combine(day, time(0), PARIS).astimezone(timezone.utc)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


# ---------------------------------------------------------------- facts from the demandes


def _scope(stmt, cls, caisse_ids, partenaire_ids):
    if caisse_ids is not None:
        stmt = stmt.where(cls.caisse_id.in_(caisse_ids))
    if partenaire_ids is not None:
        stmt = stmt.where(cls.partenaire_id.in_(partenaire_ids))
    return stmt


def _is_pg() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _hour(col, pg: bool):
    """What decides the Paris day of a timestamp, grouped in SQL: the Paris date
    itself on PostgreSQL; on SQLite (no time zones) the UTC hour, Paris being a
    whole number of hours from UTC (dated in Python)."""
    return func.date(func.timezone("Europe/Paris", col)) if pg else func.strftime("%Y-%m-%d %H:00:00", col)


def _bucket(days, pg: bool = False):
    """The delay histogram's bucket of a number of whole days, in SQL (bucket_of):
    the facts are grouped by bucket, not by day count (a day of closures then
    holds 15 groups, not one per delay). On PostgreSQL one width_bucket over
    the buckets' lower bounds instead of 15 comparisons; a negative delay (a
    clock set wrong) falls in the last bucket either way."""
    last = len(DELAY_BUCKETS) - 1
    if pg:
        lows = ",".join(str(low) for low, _ in DELAY_BUCKETS[1:])
        return case((days < 0, last), else_=func.width_bucket(days, literal_column(f"ARRAY[{lows}]")))
    whens = [(days < 0, last)] + [(days <= high, i) for i, (_, high) in enumerate(DELAY_BUCKETS)
                                   if high is not None]
    return case(*whens, else_=last)


def _whole_days(later, earlier, pg: bool):
    if pg:
        return func.floor(func.extract("epoch", later - earlier) / 86400)
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _paris_day(hour) -> date:
    if isinstance(hour, date) and not isinstance(hour, datetime):
        return hour  # already the Paris date (PostgreSQL)
    if isinstance(hour, str):
        hour = datetime.fromisoformat(hour).replace(tzinfo=timezone.utc)
    return to_paris(hour).date()


DIMS = ("caisse_id", "partenaire_id", "service")
_INDEX = {m: i for i, m in enumerate(MEASURES)}
_WIDTH = len(MEASURES)
# The kinds of fact of the live statement (its first column).
_CREATED, _CLOSED, _TAKEN, _MISSED, _COMPLEMENT, _MOVED_OUT, _MOVED_IN = range(7)


@functools.cache
def _facts_statement(dialect: str, dims: tuple, delays: bool, caisse_scoped: bool, partner_scoped: bool):
    """The facts of a span of instants as ONE statement (a UNION ALL of one
    grouped select per kind of fact), built once per process for each shape:
    the instants and the scope's ids are bound at each execution (``start``,
    ``until``, ``caisse_ids``, ``partenaire_ids``). Columns: kind, hour (what
    decides the Paris day, _hour), ``dims``, outcome, delay bucket, in time, n."""
    D, E = Demande, DemandeEvent
    pg = dialect == "postgresql"
    start, until = bindparam("start", type_=D.created_at.type), bindparam("until", type_=D.created_at.type)
    caisse_ids = bindparam("caisse_ids", expanding=True) if caisse_scoped else None
    partenaire_ids = bindparam("partenaire_ids", expanding=True) if partner_scoped else None
    # Constants written in the statement (no parameter whose type PostgreSQL would guess).
    no_outcome, zero = literal_column("''", String), literal_column("0", Integer)

    def scoped(stmt, caisse_col=D.caisse_id):
        if caisse_ids is not None:
            stmt = stmt.where(caisse_col.in_(caisse_ids))
        if partenaire_ids is not None:
            stmt = stmt.where(D.partenaire_id.in_(partenaire_ids))
        return stmt

    def grouped(kind, at, outcome=no_outcome, days=zero, in_time=zero, where=(), join=False, caisse_col=None):
        hour = _hour(at, pg)
        dim_cols = [caisse_col if d == "caisse_id" and caisse_col is not None else getattr(D, d) for d in dims]
        columns = [literal_column(str(kind), Integer), hour, *dim_cols, outcome, days, in_time]
        stmt = select(*columns, func.count())
        if join:
            stmt = stmt.select_from(E).join(D, D.id == E.demande_id)
        stmt = stmt.where(at >= start, at < until, *where)
        # Grouped by position (GROUP BY 2, 3, ...): the statement stays short, the
        # delay's expression is not written twice.
        grouping = [literal_column(str(i)) for i, c in enumerate(columns, start=1)
                    if i > 1 and c is not no_outcome and c is not zero]
        return scoped(stmt.group_by(*grouping), caisse_col if caisse_col is not None else D.caisse_id)

    def bucket(later):
        return _bucket(_whole_days(later, D.created_at, pg), pg) if delays else zero

    in_time = case((D.due_at.is_not(None) & (D.taken_at <= D.due_at), 1), else_=0)
    parts = [
        grouped(_CREATED, D.created_at),
        grouped(_CLOSED, D.closed_at, outcome=func.coalesce(type_coerce(D.outcome, String), ""),
                days=bucket(D.closed_at), where=(D.status == DemandeStatus.CLOTUREE,)),
        grouped(_TAKEN, D.taken_at, days=bucket(D.taken_at), in_time=in_time),
        grouped(_MISSED, D.due_at, where=((D.taken_at.is_(None)) | (D.taken_at > D.due_at),)),
        grouped(_COMPLEMENT, E.at, where=(E.kind == "complement_requested",), join=True),
    ]
    # A change of caisse counts at the caisse it left and at the one it reached
    # (its event's details), for the demande's partner and service.
    for kind, side in ((_MOVED_OUT, "from_caisse_id"), (_MOVED_IN, "to_caisse_id")):
        caisse_col = E.details[side].as_integer()
        parts.append(grouped(kind, E.at, where=(E.kind == "caisse_changed", caisse_col.is_not(None)), join=True,
                             caisse_col=caisse_col))
    return union_all(*parts)


def _facts(first: date, last: date, *, caisse_ids=None, partenaire_ids=None, until: datetime | None = None,
           dims=DIMS, delays: bool = True) -> dict[tuple, list[int]]:
    """day_facts as vectors (MEASURES' order), read in one statement."""
    start, end = day_start(first), day_start(last + DAY)
    until = min(end, until or now())
    dims = tuple(dims)
    facts: dict[tuple, list[int]] = {}
    if until <= start:
        return facts
    stmt = _facts_statement(db.session.get_bind().dialect.name, dims, delays, caisse_ids is not None,
                            partenaire_ids is not None)
    params = {"start": start, "until": until}
    if caisse_ids is not None:
        params["caisse_ids"] = list(caisse_ids)
    if partenaire_ids is not None:
        params["partenaire_ids"] = list(partenaire_ids)
    n_dims = len(dims)
    positions = [dims.index(d) if d in dims else None for d in DIMS]
    created, closed, taken, sla_met, sla_missed, complements, moved_out, moved_in = (
        _INDEX[m] for m in ("created", "closed", "taken", "sla_met", "sla_missed", "complements", "moved_out",
                            "moved_in"))
    close_hist, first_hist = [_INDEX[m] for m in CLOSE_HIST], [_INDEX[m] for m in FIRST_HIST]
    days_of: dict = {}
    for kind, hour, *rest in db.session.execute(stmt, params):
        values, (outcome, days, in_time, n) = rest[:n_dims], rest[n_dims:]
        day = days_of.get(hour)
        if day is None:
            day = days_of[hour] = _paris_day(hour)
        key = (day, *[values[p] if p is not None else None for p in positions], outcome or "")
        vector = facts.get(key)
        if vector is None:
            vector = facts[key] = [0] * _WIDTH
        if kind == _CREATED:
            vector[created] += n
        elif kind == _CLOSED:
            vector[closed] += n
            if delays:
                vector[close_hist[int(days)]] += n
        elif kind == _TAKEN:
            vector[taken] += n
            if delays:
                vector[first_hist[int(days)]] += n
            if in_time:
                vector[sla_met] += n
        elif kind == _MISSED:
            vector[sla_missed] += n
        elif kind == _COMPLEMENT:
            vector[complements] += n
        elif kind == _MOVED_OUT:
            vector[moved_out] += n
        else:
            vector[moved_in] += n
    return facts


def day_facts(first: date, last: date, *, caisse_ids=None, partenaire_ids=None, until: datetime | None = None,
              dims=DIMS, delays: bool = True) -> dict[tuple, dict]:
    """The facts of the Paris days ``first`` to ``last`` (included), by
    (day, caisse, partner, service, outcome), counted in SQL from the demandes
    in one statement (a dimension left out of ``dims`` is None in the keys;
    ``delays`` False leaves the histograms out). ``until`` (default: now)
    stops the facts at that instant: a signalement whose 48 hours are not over
    yet has missed nothing."""
    return {key: dict(zip(MEASURES, vector)) for key, vector in _facts(
        first, last, caisse_ids=caisse_ids, partenaire_ids=partenaire_ids, until=until, dims=dims,
        delays=delays).items()}


# ---------------------------------------------------------------- the nightly rollup


_ROLLED_KEY = "ep_stats_rolled_through"
_LIVE_KEY = "ep_stats_live"


def _state() -> tuple[date | None, int | None]:
    """The last rolled day and the stat tables' version (None without a
    stat_state row), read once per database session (a request)."""
    info = db.session.info
    if _ROLLED_KEY not in info:
        stmt = select(StatState.rolled_through, StatState.version).where(StatState.id == 1)
        if _is_pg():
            # The reads that follow add up a few thousand rows from index scans: a
            # parallel plan costs more in starting its workers and gathering their
            # partial sums than it saves (a date range's table: 62 -> 38 ms). Set
            # for the transaction (set_config's is_local), in the same statement.
            stmt = stmt.add_columns(func.set_config("max_parallel_workers_per_gather", "0", True))
        row = db.session.execute(stmt).first()
        info[_ROLLED_KEY] = (row[0], row[1]) if row is not None else (None, None)
    return info[_ROLLED_KEY]


def rolled_through() -> date | None:
    """The last rolled day, read once per database session (a request)."""
    return _state()[0]


def _changed() -> None:
    """Every write to the stat tables sets a new version (a random number:
    one rolled back is never taken again with other figures), so that no
    process reads the sums it kept of the old ones (_Past)."""
    db.session.execute(update(StatState).where(StatState.id == 1).values(version=new_version())
                       .execution_options(synchronize_session=False))
    _forget_cache()


class _Past:
    """The sums of rolled days that this process has read, keyed by the stat
    tables' version (read from the database with the last rolled day, once per
    request: any write, in any process, sets a new one) and by everything the
    read depends on, its scope among it: an entry is what any reader allowed
    that scope reads (the routes authorize the scope before reading), never
    another scope's. Rolled days never change but through a write to those
    tables; today's facts are not kept. Bounded by the number of rows kept
    (rows as tuples of integers, which the garbage collector stops tracking)."""

    MAX_ROWS = 60_000

    def __init__(self) -> None:
        self.entries: OrderedDict = OrderedDict()
        self.rows = 0
        self.version = None

    def get(self, version, key):
        if version != self.version:
            return None
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, version, key, rows: dict) -> None:
        if version != self.version:  # another version: the old entries are of no more use
            self.entries.clear()
            self.rows, self.version = 0, version
        if len(rows) > self.MAX_ROWS // 4:
            return
        self.entries[key] = {k: tuple(v) for k, v in rows.items()}
        self.rows += len(rows)
        while self.rows > self.MAX_ROWS:
            _, dropped = self.entries.popitem(last=False)
            self.rows -= len(dropped)


_past = _Past()


def _hashable(value):
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_hashable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value))
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def _forget_cache(session=None) -> None:
    info = (session or db.session).info
    info.pop(_ROLLED_KEY, None)
    info.pop(_LIVE_KEY, None)


# Any write or end of transaction forgets what was counted: a page's reads share
# their counts, nothing older.
for _name in ("after_flush", "after_commit", "after_rollback"):
    event.listen(Session, _name, lambda session, *_: _forget_cache(session))


def _live_facts(first: date, last: date, caisse_ids, partenaire_ids, dims) -> dict[tuple, list[int]]:
    """The facts (_facts: vectors) for a page's reads, counted once per request
    and scope (with the delays, and the partner only when the scope or a read
    needs it), then added up once per set of ``dims``: a page's charts share one
    count of today's demandes, and each read walks a few keys, not every partner's."""
    scope = (first, last, tuple(caisse_ids) if caisse_ids is not None else None,
             tuple(partenaire_ids) if partenaire_ids is not None else None)
    # Not keyed on now(): it moves between a page's reads, which must share the
    # count (the cache goes with any write or end of transaction anyway).
    cache = db.session.info.setdefault(_LIVE_KEY, {})
    wide = "partenaire_id" in dims or caisse_ids is not None or partenaire_ids is not None
    base = cache.get((scope, DIMS))
    if base is None and not wide:
        base = cache.get((scope, ("caisse_id", "service")))
    if base is None:
        base_dims = DIMS if wide else ("caisse_id", "service")
        base = cache[(scope, base_dims)] = _facts(first, last, caisse_ids=caisse_ids,
                                                  partenaire_ids=partenaire_ids, dims=base_dims)
    key = (scope, "by", dims)
    if key not in cache:
        keep_caisse, keep_partner = "caisse_id" in dims, "partenaire_id" in dims
        out: dict[tuple, list[int]] = {}
        for (day, caisse_id, partenaire_id, service, outcome), vector in base.items():
            k = (day, caisse_id if keep_caisse else None, partenaire_id if keep_partner else None, service, outcome)
            acc = out.get(k)
            if acc is None:
                out[k] = list(vector)
            else:
                for i, v in enumerate(vector):
                    if v:
                        acc[i] += v
        cache[key] = out
    return cache[key]


def _first_fact_day() -> date | None:
    first = db.session.scalar(select(func.min(Demande.created_at)))
    return to_paris(first).date() if first else None


# Temporary tables of stat_day's columns (per connection, emptied before use):
# the new rows of the days being rolled, staged before they replace the old
# ones, and when the days had rows, what changes (new minus old, by key).
_DAY_COLUMNS = StatDay.__table__.columns
_STAGED = Table("stat_day_new", MetaData(), *[Column(c.name, c.type) for c in _DAY_COLUMNS])
_CHANGE = Table("stat_day_change", MetaData(), *[Column(c.name, c.type) for c in _DAY_COLUMNS])
DERIVED = (StatMonth, StatYear, StatMonthTable, StatYearTable)
_PERIOD = {StatMonth: "month", StatYear: "year", StatMonthTable: "month", StatYearTable: "year"}


def _temporary(table: Table) -> None:
    """``table`` (one of stat_day's shape) created if need be, and emptied."""
    if _is_pg():
        db.session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} (LIKE stat_day) ON COMMIT DROP"))
        db.session.execute(text(f"TRUNCATE {table.name}"))
    else:
        db.session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} AS "
                                "SELECT * FROM stat_day WHERE 0"))
        db.session.execute(text(f"DELETE FROM {table.name}"))


def _stage(rows: list[tuple]) -> None:
    """Write stat_day rows (day, KEY..., MEASURES...) into the emptied staging
    table (_STAGED): COPY on PostgreSQL (a month of backfill is ~100 000
    rows), executemany elsewhere."""
    _temporary(_STAGED)
    if not rows:
        return
    columns = ["day", *KEY, *MEASURES]
    if _is_pg():
        cursor = db.session.connection().connection.cursor()
        with cursor.copy(f"COPY {_STAGED.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    db.session.execute(insert(_STAGED), [dict(zip(columns, row)) for row in rows])


def _moved(sums) -> object:
    return or_(*[s != 0 for s in sums])


def _change(first: date, last: date) -> Table:
    """What rolling the days ``first`` to ``last`` again changes: the staged
    rows minus those stat_day holds for them, by day and key, the keys that
    move only (in _CHANGE)."""
    _temporary(_CHANGE)
    day_table = StatDay.__table__
    both = union_all(
        select(_STAGED),
        select(day_table.c.day, *[day_table.c[k] for k in KEY], *[-day_table.c[m] for m in MEASURES])
        .where(day_table.c.day >= first, day_table.c.day <= last)).subquery()
    sums = [func.sum(both.c[m]) for m in MEASURES]
    keys = [both.c.day, *[both.c[k] for k in KEY]]
    db.session.execute(insert(_CHANGE).from_select(
        [c.name for c in _CHANGE.c], select(*keys, *sums).group_by(*keys).having(_moved(sums))))
    return _CHANGE


def _measures_of(model) -> tuple[str, ...]:
    return TABLE_MEASURES if model in (StatMonthTable, StatYearTable) else MEASURES


def _period_of(day, level: str, pg: bool):
    """The first day of the month or year of ``day``, in SQL."""
    if pg:
        return cast(func.date_trunc(literal_column(f"'{level}'"), day), Date)
    return func.date(day, literal_column(f"'start of {level}'"))


def _merge(model, change: Table, shrinking: bool = False) -> None:
    """Add ``change`` (rows of stat_day's shape) into ``model`` (stat_month,
    stat_year or their tables' rows) in one statement: added up by SQL per
    period and key (per partner, caisse-wide, national), then into the table
    (a new key inserted, a known one increased; keys whose sums do not move
    are left out). With ``shrinking`` (some sums may fall), a key left with
    nothing but zeros (a demande sent on to another caisse…) is deleted."""
    pg = _is_pg()
    t = model.__table__
    keys = [c.name for c in t.primary_key.columns]
    measures = _measures_of(model)
    c = change.c
    if model in (StatMonthTable, StatYearTable):
        sums = [func.sum(c[m]) for m in COUNTS] + [_extra_sum(c, *spec) for spec in TABLE_EXTRAS.values()]
        dims = ()
    else:
        sums = [func.sum(c[m]) for m in MEASURES]
        dims = (c.service, c.outcome)
    every_caisse, every_partner = literal_column(str(ALL_CAISSES), Integer), literal_column(str(ALL_PARTNERS), Integer)
    parts = []
    for caisse, partner in ((c.caisse_id, c.partenaire_id), (c.caisse_id, every_partner),
                            (every_caisse, every_partner)):
        group = [col for col in (caisse, partner) if col is not every_caisse and col is not every_partner]
        parts.append(select(_period_of(c.day, _PERIOD[model], pg), caisse, partner, *dims, *sums)
                     .group_by(literal_column("1"), *group, *dims).having(_moved(sums)))
    stmt = (pg_insert if pg else sqlite_insert)(t).from_select([*keys, *measures], union_all(*parts))
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={m: t.c[m] + stmt.excluded[m] for m in measures})
    if not shrinking:
        db.session.execute(stmt)
        return
    # Only the keys that lost something can be left at zero (not the whole month).
    empty = and_(*[t.c[m] == 0 for m in measures])
    gone = [row[:-1] for row in db.session.execute(stmt.returning(*[t.c[k] for k in keys], empty)) if row[-1]]
    if gone:
        db.session.execute(delete(t).where(*[t.c[k] == bindparam(f"k_{k}") for k in keys])
                           .execution_options(synchronize_session=False),
                           [{f"k_{k}": v for k, v in zip(keys, row)} for row in gone])


def rollup_days(first: date, last: date) -> int:
    """Write the finished days ``first`` to ``last`` into stat_day and carry
    the change into stat_month, stat_year and their tables' rows,
    incrementally: the days' new facts, minus the rows they had if they were
    rolled before (_change), added up by SQL into their months and years
    (_merge: one statement per table). Idempotent: rolling the same days
    again changes nothing. Returns the number of stat_day rows.

    Re-rolling a day re-reads its demandes: the days where the retention
    purge may have removed some (before now minus RETENTION_DAYS) are refused
    once rolled (ValueError), their counts are kept as they are."""
    in_range = (StatDay.day >= first, StatDay.day <= last)
    already = db.session.scalar(select(StatDay.day).where(*in_range).limit(1))
    retention = current_app.config.get("RETENTION_DAYS")
    if already is not None and retention and first <= to_paris(now() - timedelta(days=retention)).date():
        raise ValueError(f"{already} is rolled and its demandes may be purged: its counts stay as they are")
    new = _facts(first, last, until=day_start(last + DAY))
    _stage([(*key, *vector) for key, vector in new.items()])
    # Days rolled for the first time (the nightly job): their rows are the change.
    change = _STAGED if already is None else _change(first, last)
    for model in DERIVED:
        _merge(model, change, shrinking=already is not None)
    if already is not None:
        db.session.execute(delete(StatDay).where(*in_range).execution_options(synchronize_session=False))
    db.session.execute(insert(StatDay).from_select([c.name for c in _STAGED.c], select(_STAGED)))
    _changed()
    return len(new)


def take_out_days(first: date, last: date) -> None:
    """The rolled days ``first`` to ``last`` taken out of stat_day and of
    their months and years, as if never rolled (bench/indicators.py times
    their first roll after this)."""
    _stage([])
    change = _change(first, last)  # nothing staged: the days' rows, negated
    for model in DERIVED:
        _merge(model, change, shrinking=True)
    db.session.execute(delete(StatDay).where(StatDay.day >= first, StatDay.day <= last)
                       .execution_options(synchronize_session=False))
    _changed()


def refresh_month(month: date) -> None:
    """stat_month for one month, recomputed from its days: one row per partner,
    plus the caisse-wide rows (partenaire_id = ALL_PARTNERS) and the national
    ones (caisse_id = ALL_CAISSES too), so that no page adds up thousands of
    rows. The rollup keeps stat_month up to date by itself (rollup_days): this
    is the repair, and the reference the tests compare the rollup with."""
    first, after = month_start(month), next_month(month)
    db.session.execute(delete(StatMonth).where(StatMonth.month == first)
                       .execution_options(synchronize_session=False))
    sums = [func.sum(getattr(StatDay, m)) for m in MEASURES]
    in_month = (StatDay.day >= first, StatDay.day < after)
    names = ["month", *KEY, *MEASURES]
    per_partner = (select(literal(first), StatDay.caisse_id, StatDay.partenaire_id, StatDay.service,
                          StatDay.outcome, *sums).where(*in_month)
                   .group_by(StatDay.caisse_id, StatDay.partenaire_id, StatDay.service, StatDay.outcome))
    caisse_wide = (select(literal(first), StatDay.caisse_id, literal(ALL_PARTNERS), StatDay.service,
                          StatDay.outcome, *sums).where(*in_month)
                   .group_by(StatDay.caisse_id, StatDay.service, StatDay.outcome))
    national = (select(literal(first), literal(ALL_CAISSES), literal(ALL_PARTNERS), StatDay.service,
                       StatDay.outcome, *sums).where(*in_month).group_by(StatDay.service, StatDay.outcome))
    for stmt in (per_partner, caisse_wide, national):
        db.session.execute(insert(StatMonth).from_select(names, stmt))
    _changed()


def refresh_year(year: date) -> None:
    """stat_year for one year, recomputed from its months (stat_month has the
    caisse-wide and national rows already): the repair, and the tests' reference."""
    first = year.replace(month=1, day=1)
    db.session.execute(delete(StatYear).where(StatYear.year == first).execution_options(synchronize_session=False))
    names = ["year", *KEY, *MEASURES]
    stmt = (select(literal(first), *[getattr(StatMonth, k) for k in KEY],
                   *[func.sum(getattr(StatMonth, m)) for m in MEASURES])
            .where(StatMonth.month >= first, StatMonth.month < first.replace(year=first.year + 1))
            .group_by(*[getattr(StatMonth, k) for k in KEY]))
    db.session.execute(insert(StatYear).from_select(names, stmt))
    _changed()


def refresh_table(model, period: date) -> None:
    """stat_month_table or stat_year_table for one month or year, recomputed
    from stat_month or stat_year (the services and outcomes added up): the
    repair, and the tests' reference (the rollup keeps them by difference)."""
    source = StatMonth if model is StatMonthTable else StatYear
    name = _PERIOD[model]
    col = getattr(source, name)
    db.session.execute(delete(model).where(getattr(model, name) == period)
                       .execution_options(synchronize_session=False))
    sums = [func.sum(getattr(source, m)) for m in COUNTS] + [_extra_sum(source, *spec)
                                                             for spec in TABLE_EXTRAS.values()]
    stmt = (select(col, source.caisse_id, source.partenaire_id, *sums).where(col == period)
            .group_by(col, source.caisse_id, source.partenaire_id))
    db.session.execute(insert(model).from_select([name, "caisse_id", "partenaire_id", *TABLE_MEASURES], stmt))
    _changed()


def rollup(through: date | None = None) -> dict:
    """SPEC §7, the nightly job: roll every finished day not rolled yet (up to
    yesterday, Paris), adding them into their months as it goes. Idempotent, and
    catches up after missed nights. Runs before the retention purge, which
    never deletes a demande whose days are not rolled (lifecycle.purge_closed_demandes)."""
    through = through or today() - DAY
    _forget_cache()
    state = db.session.get(StatState, 1)
    if state is None:
        state = StatState(id=1, rolled_through=None, updated_at=now())
        db.session.add(state)
        db.session.flush()
    first = state.rolled_through + DAY if state.rolled_through else _first_fact_day()
    days = rows = 0
    months = set()
    day = first
    while day is not None and day <= through:
        # A month at most at once: one read per kind of fact, whatever the number of days.
        last = min(next_month(day) - DAY, through)
        rows += rollup_days(day, last)
        months.add(month_start(day))
        days += (last - day).days + 1
        day = last + DAY
    if days or state.rolled_through is None:
        state.rolled_through = max(through, state.rolled_through or through)
        state.updated_at = now()
    db.session.flush()
    _forget_cache()
    return {"days": days, "rows": rows, "months": len(months)}


def purge_horizon() -> datetime | None:
    """The retention purge may delete a demande closed before this instant: its
    facts are all in the rollup (None: nothing rolled yet, nothing may go)."""
    rolled = rolled_through()
    return day_start(rolled + DAY) if rolled else None


# ---------------------------------------------------------------- reading


def _month_plan(first: date, last: date, rolled: date, reaches_rolled: bool, sign: int = 1) -> list[tuple]:
    """[first, last] (rolled days) as months of stat_month and ranges of
    stat_day: (level, first, last, sign) parts, sign -1 for what is taken out.

    stat_month holds each month's days up to ``rolled``: the month of the last
    rolled day is whole as soon as the period reaches that day. A partial
    month is read from its days, or, when it holds more than half of the
    month, as the month minus the days left out (fewer rows either way)."""
    parts = []
    day = first
    while day <= last:
        start = month_start(day)
        month_end = next_month(day) - DAY
        held_end = min(month_end, rolled)  # what stat_month holds of this month
        stop = min(month_end, last)
        if day == start and (stop == month_end or (reaches_rolled and stop == held_end)):
            parts.append(("month", start, start, sign))
        else:
            inside = (stop - day).days + 1
            outside = (held_end - start).days + 1 - inside
            if outside < inside:
                parts.append(("month", start, start, sign))
                if day > start:
                    parts.append(("day", start, day - DAY, -sign))
                if stop < held_end:
                    parts.append(("day", stop + DAY, held_end, -sign))
            else:
                parts.append(("day", day, stop, sign))
        day = stop + DAY
    return parts


def _plan(first: date, last: date, rolled: date, reaches_rolled: bool, years: bool = True) -> list[tuple]:
    """[first, last] (rolled days) as (level, first, last, sign) parts: whole
    years from stat_year (which holds each year up to ``rolled``, like
    stat_month), a year mostly covered as the year minus the months and days
    left out, the rest as months and days (_month_plan)."""
    if not years:
        return _month_plan(first, last, rolled, reaches_rolled)
    parts = []
    for y in range(first.year, last.year + 1):
        start, end = date(y, 1, 1), date(y, 12, 31)
        held_end = min(end, rolled)
        lo, hi = max(first, start), min(last, end)
        if lo == start and (hi == end or (reaches_rolled and hi == held_end)):
            parts.append(("year", start, start, 1))
        elif (hi - lo).days + 1 > ((held_end - start).days + 1) / 2:
            parts.append(("year", start, start, 1))
            if lo > start:
                parts += _month_plan(start, lo - DAY, rolled, False, -1)
            if hi < held_end:
                parts += _month_plan(hi + DAY, held_end, rolled, True, -1)
        else:
            parts += _month_plan(lo, hi, rolled, reaches_rolled and hi == held_end)
    return parts


def _extra_sum(cls, measure: str, service: str | None, outcomes) -> object:
    cond = []
    if service is not None:
        cond.append(cls.service == service)
    if outcomes is not None:
        cond.append(cls.outcome.in_(list(outcomes)))
    col = getattr(cls, measure)
    return func.sum(case((and_(*cond), col), else_=0)) if cond else func.sum(col)


_TABLE_COLUMNS = {(m, svc, tuple(outs) if outs is not None else None): name
                  for name, (m, svc, outs) in TABLE_EXTRAS.items()}


def _table_columns(group, measures, extras, service, outcomes) -> dict | None:
    """The columns of stat_*_table that serve a read ({name: column} for its
    measures and extras), or None when it needs stat_month and stat_year
    (a service, an outcome or a delay; a sum that is not an indicator's)."""
    if service is not None or outcomes is not None or not set(group) <= {"caisse_id", "partenaire_id"}:
        return None
    if not set(measures) <= set(COUNTS):
        return None
    columns = {m: m for m in measures}
    for name, (m, svc, outs) in extras.items():
        column = m if svc is None and outs is None and m in COUNTS else \
            _TABLE_COLUMNS.get((m, svc, tuple(outs) if outs is not None else None))
        if column is None:
            return None
        columns[name] = column
    return columns


def read_vectors(first: date, last: date, *, group=("caisse_id",), caisse_ids=None, partenaire_ids=None,
                 by_month: bool = False, measures=MEASURES, service: str | None = None,
                 outcomes=None, extras: dict | None = None) -> dict[tuple, list[int]]:
    """Measures added up over the Paris days ``first`` to ``last``, by ``group``
    (a tuple of KEY names; with ``by_month`` the first day of the month comes
    first in each key), as {key: [sums of ``measures``, then of ``extras``]},
    optionally for one ``service`` or some ``outcomes``.
    ``extras`` adds named sums of one measure for one service and/or some
    outcomes ({name: (measure, service or None, outcomes or None)}), in the same
    read: a table's columns come from one query.

    Whole rolled years and months come from stat_year and stat_month (their
    caisse-wide and national rows when no partner is asked for; the current
    year and month up to the last rolled day), a period mostly covering one
    as it minus what is left out (_plan), the rolled days at the edges from
    stat_day, the days after the last
    rolled one from the demandes: exact up to now, whatever the nightly job
    did. Only ``measures`` are added up (the others stay 0): the database does
    the sums, Python sees one row per key. A read of the indicator tables'
    columns by caisse and/or partner (_table_columns) takes its years and
    months from stat_year_table and stat_month_table: one row per partner,
    not one per partner, service and outcome."""
    out: dict[tuple, list[int]] = {}
    last = min(last, today())
    if first > last:
        return out
    measures = tuple(measures)
    extras = dict(extras or {})
    width_names = len(measures) + len(extras)
    rolled = rolled_through()
    rolled_last = min(last, rolled) if rolled else None
    partner_rows = partenaire_ids is not None or "partenaire_id" in group
    national_rows = not partner_rows and caisse_ids is None and "caisse_id" not in group

    day_table = StatDay.__table__

    def scoped(stmt, c):
        stmt = _scope(stmt, c, caisse_ids, partenaire_ids)
        if service is not None:
            stmt = stmt.where(c.service == service)
        if outcomes is not None:
            stmt = stmt.where(c.outcome.in_(list(outcomes)))
        if c is not day_table.c:
            if partner_rows:
                stmt = stmt.where(c.partenaire_id != ALL_PARTNERS)
            elif national_rows:
                stmt = stmt.where(c.caisse_id == ALL_CAISSES, c.partenaire_id == ALL_PARTNERS)
            else:
                stmt = stmt.where(c.caisse_id != ALL_CAISSES, c.partenaire_id == ALL_PARTNERS)
        return stmt

    names = (*measures, *extras)
    table_columns = _table_columns(group, measures, extras, service, outcomes)

    def sums(model, sign):
        c = model.__table__.c
        if model in (StatYearTable, StatMonthTable):
            columns = [func.sum(c[table_columns[name]]) for name in names]
        else:
            columns = [*[func.sum(c[m]) for m in measures], *[_extra_sum(c, *spec) for spec in extras.values()]]
        # Integers (a sum of integers is a bigint, whose sum is a numeric): the
        # outer sum over the parts then adds bigints, not numerics.
        return [cast(col if sign > 0 else -col, Integer).label(f"m{i}") for i, col in enumerate(columns)]

    past_key = version = None
    if rolled_last is not None and first <= rolled_last:
        version = _state()[1]
        if version is not None:
            past_key = (str(db.session.get_bind().engine.url), rolled, first, rolled_last, last >= rolled, tuple(group),
                        by_month, measures, _hashable(extras), service, _hashable(outcomes), _hashable(caisse_ids),
                        _hashable(partenaire_ids))
            kept = _past.get(version, past_key)
            if kept is not None:
                out.update((k, list(v)) for k, v in kept.items())
                rolled_last = None  # read already
    if rolled_last is not None and first <= rolled_last:
        # Years are no use to a monthly series.
        parts = _plan(first, rolled_last, rolled, last >= rolled, years=not by_month)
        levels = (("year", StatYearTable), ("month", StatMonthTable)) if table_columns is not None else \
            (("year", StatYear), ("month", StatMonth))
        # Every part in one statement (a UNION ALL, what is taken out negated,
        # added up by key outside), read through Core: plain rows, no ORM.
        branches = []
        for level, model in levels:
            c = model.__table__.c
            for sign in (1, -1):
                chosen = [lo for lv, lo, _, sg in parts if lv == level and sg == sign]
                if not chosen:
                    continue
                cols = [c[g] for g in group]
                if by_month:
                    cols.insert(0, c[level])
                where = c[level] == chosen[0] if len(chosen) == 1 else c[level].in_(chosen)
                keys = [col.label(f"k{i}") for i, col in enumerate(cols)]
                branches.append(scoped(select(*keys, *sums(model, sign)).where(where).group_by(*cols), c))
        c = day_table.c
        for level, lo, hi, sign in parts:
            if level != "day":
                continue
            cols = [c[g] for g in group]
            keys = [literal(month_start(lo), Date), *cols] if by_month else cols
            keys = [col.label(f"k{i}") for i, col in enumerate(keys)]
            branches.append(scoped(select(*keys, *sums(StatDay, sign)).where(c.day >= lo, c.day <= hi)
                                   .group_by(*cols), c))
        width = len(group) + by_month
        if len(branches) == 1:
            stmt = branches[0]
        else:
            both = union_all(*branches).subquery()
            keys = list(both.c)[:width]
            stmt = select(*keys, *[func.sum(col) for col in list(both.c)[width:]]).group_by(*keys)
        # A key whose days were all taken out: no key.
        drop_zeros = any(sign < 0 for *_, sign in parts)
        for row in db.session.connection().execute(stmt):
            values = row[width:]
            if drop_zeros and not any(values):
                continue
            # One row per key (one part, or the parts added up by key).
            out[tuple(row[:width])] = [v or 0 for v in values]
        if past_key is not None:
            _past.put(version, past_key, out)
    live_first = max(first, rolled + DAY) if rolled else first
    if live_first <= last:
        index = [KEY.index(g) + 1 for g in group]
        # The service is always a dimension (a read may ask for one service).
        dims = tuple(d for d in DIMS if d in group or d == "service")
        facts = _live_facts(live_first, last, caisse_ids, partenaire_ids, dims)
        wanted = [(j, _INDEX[m]) for j, m in enumerate(measures)]
        extra_index = [(j, _INDEX[m], svc, outs) for j, (m, svc, outs) in enumerate(extras.values(), len(measures))]
        for key, vector in facts.items():
            if service is not None and key[3] != service:
                continue
            if outcomes is not None and key[4] not in outcomes:
                continue
            k = tuple(key[i] for i in index)
            k = (month_start(key[0]), *k) if by_month else k
            acc = out.get(k)
            if acc is None:
                acc = out[k] = [0] * width_names
            for j, i in wanted:
                if vector[i]:
                    acc[j] += vector[i]
            for j, i, svc, outs in extra_index:
                if vector[i] and (svc is None or key[3] == svc) and (outs is None or key[4] in outs):
                    acc[j] += vector[i]
    return out


def read(first: date, last: date, *, measures=MEASURES, extras: dict | None = None, **kw) -> dict[tuple, dict]:
    """read_vectors as {key: Sums} (measure or extra name → sum; any other reads 0)."""
    measures = tuple(measures)
    names = (*measures, *(extras or {}))
    out: dict[tuple, dict] = defaultdict(Sums)
    for key, vector in read_vectors(first, last, measures=measures, extras=extras, **kw).items():
        acc = out[key]
        for m, v in zip(names, vector):
            if v:
                acc[m] = v
    return out


def total(rows: dict) -> dict:
    out = empty()
    for values in rows.values():
        add(out, values)
    return out


def backlog_before(first: date, *, caisse_ids=None, partenaire_ids=None) -> int:
    """Demandes open at the start of ``first``: created minus closed before it."""
    if first <= date(2000, 1, 1):
        return 0
    values = total(read(date(2000, 1, 1), first - DAY, group=(), caisse_ids=caisse_ids,
                        partenaire_ids=partenaire_ids, measures=("created", "closed", "moved_in", "moved_out")))
    return open_delta(values)


def open_delta(values: dict) -> int:
    """How much a set of facts changes the number of open demandes."""
    return values["created"] + values["moved_in"] - values["moved_out"] - values["closed"]


# ---------------------------------------------------------------- delays


def percentile(values: dict, hist: tuple[str, ...], share: float) -> tuple[int, int | None] | None:
    """The delay bucket (low, high days; high None for 'more than') holding the
    ``share`` percentile of the histogram, or None without data."""
    counts = [values[h] for h in hist]
    n = sum(counts)
    if not n:
        return None
    rank = share * n
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            return DELAY_BUCKETS[i]
    return DELAY_BUCKETS[-1]


def delay_label(bucket: tuple[int, int | None] | None) -> str:
    if bucket is None:
        return "—"
    low, high = bucket
    if high is None:
        return f"plus de {low - 1} jours"
    if low == high:
        return "moins d'un jour" if low == 0 else f"{low} jour{'s' if low > 1 else ''}"
    return f"{low} à {high} jours"


MIN_FOR_DELAY = 10  # fewer closed demandes than this: no "usual delay" shown
USUAL_DELAY_DAYS = 90


def usual_delays(caisse_id: int) -> dict[str, tuple[int, int | None]]:
    """The median delay from sending to closure of each service at the caisse
    over the last 90 days, for the services with enough closures (SPEC §4
    "Nouvelle demande": an observation shown to the techniciens, not a promise)."""
    rows = read(today() - timedelta(days=USUAL_DELAY_DAYS), today(), group=("service",), caisse_ids=[caisse_id],
                measures=("closed", *CLOSE_HIST))
    out = {}
    for (service,), values in rows.items():
        if values["closed"] >= MIN_FOR_DELAY:
            out[service] = percentile(values, CLOSE_HIST, 0.5)
    return out


def sla_share(values: dict) -> float | None:
    n = values["sla_met"] + values["sla_missed"]
    return values["sla_met"] / n if n else None


SERVICES = [s.value for s in Service]
__all__ = ["COUNTS", "read", "read_vectors", "rollup", "day_facts", "percentile", "usual_delays"]
