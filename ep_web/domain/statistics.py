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

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import delete, func, insert, literal, select

from ep_web.clock import PARIS, now, to_paris, today
from ep_web.extensions import db
from ep_web.models import Demande, DemandeEvent, DemandeStatus, Service
from ep_web.models.stats import (
    ALL_PARTNERS,
    CLOSE_HIST,
    COUNTS,
    DELAY_BUCKETS,
    FIRST_HIST,
    MEASURES,
    StatDay,
    StatMonth,
    StatState,
    bucket_of,
)

KEY = ("caisse_id", "partenaire_id", "service", "outcome")
DAY = timedelta(days=1)


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


def _days_between(later: datetime, earlier: datetime) -> int:
    return max(int((later - earlier).total_seconds() // 86400), 0)


def day_facts(first: date, last: date, *, caisse_ids=None, partenaire_ids=None,
              until: datetime | None = None) -> dict[tuple, dict]:
    """The facts of the Paris days ``first`` to ``last`` (included), by
    (day, caisse, partner, service, outcome), read from the demandes. ``until``
    (default: now) stops the facts at that instant: a signalement whose 48 hours
    are not over yet has missed nothing."""
    start, end = day_start(first), day_start(last + DAY)
    until = min(end, until or now())
    facts: dict[tuple, dict] = defaultdict(empty)

    def fact(at, row, outcome=""):
        return facts[(to_paris(at).date(), row.caisse_id, row.partenaire_id, row.service, outcome)]

    D = Demande
    cols = (D.caisse_id, D.partenaire_id, D.service)
    for row in db.session.execute(_scope(select(D.created_at, *cols).where(
            D.created_at >= start, D.created_at < until), D, caisse_ids, partenaire_ids)):
        fact(row.created_at, row)["created"] += 1
    for row in db.session.execute(_scope(select(D.closed_at, D.created_at, D.outcome, *cols).where(
            D.closed_at >= start, D.closed_at < until, D.status == DemandeStatus.CLOTUREE), D,
            caisse_ids, partenaire_ids)):
        f = fact(row.closed_at, row, row.outcome.value if row.outcome else "")
        f["closed"] += 1
        f[CLOSE_HIST[bucket_of(_days_between(row.closed_at, row.created_at))]] += 1
    for row in db.session.execute(_scope(select(D.taken_at, D.created_at, D.due_at, *cols).where(
            D.taken_at >= start, D.taken_at < until), D, caisse_ids, partenaire_ids)):
        f = fact(row.taken_at, row)
        f["taken"] += 1
        f[FIRST_HIST[bucket_of(_days_between(row.taken_at, row.created_at))]] += 1
        if row.due_at is not None and row.taken_at <= row.due_at:
            f["sla_met"] += 1
    for row in db.session.execute(_scope(select(D.due_at, *cols).where(
            D.due_at >= start, D.due_at < until, (D.taken_at.is_(None)) | (D.taken_at > D.due_at)), D,
            caisse_ids, partenaire_ids)):
        fact(row.due_at, row)["sla_missed"] += 1
    E = DemandeEvent
    for row in db.session.execute(_scope(select(E.at, *cols).join(D, D.id == E.demande_id).where(
            E.kind == "complement_requested", E.at >= start, E.at < until), D, caisse_ids, partenaire_ids)):
        fact(row.at, row)["complements"] += 1
    for row in db.session.execute(_scope(select(E.at, E.details, D.partenaire_id, D.service).join(
            D, D.id == E.demande_id).where(E.kind == "caisse_changed", E.at >= start, E.at < until), D,
            None, partenaire_ids)):
        details = row.details or {}
        day = to_paris(row.at).date()
        moves = (("moved_out", details.get("from_caisse_id")), ("moved_in", details.get("to_caisse_id")))
        for side, caisse_id in moves:
            if caisse_id is not None and (caisse_ids is None or caisse_id in caisse_ids):
                facts[(day, caisse_id, row.partenaire_id, row.service, "")][side] += 1
    return facts


# ---------------------------------------------------------------- the nightly rollup


def rolled_through() -> date | None:
    return db.session.scalar(select(StatState.rolled_through).where(StatState.id == 1))


def _first_fact_day() -> date | None:
    first = db.session.scalar(select(func.min(Demande.created_at)))
    return to_paris(first).date() if first else None


def rollup_days(first: date, last: date) -> int:
    """Write the finished days ``first`` to ``last`` into stat_day (idempotent:
    their rows are replaced). Returns the number of rows."""
    db.session.execute(delete(StatDay).where(StatDay.day >= first, StatDay.day <= last)
                       .execution_options(synchronize_session=False))
    rows = [dict(day=key[0], caisse_id=key[1], partenaire_id=key[2], service=key[3], outcome=key[4], **values)
            for key, values in day_facts(first, last, until=day_start(last + DAY)).items()]
    if rows:
        db.session.execute(insert(StatDay), rows)
    return len(rows)


def refresh_month(month: date) -> None:
    """stat_month for one month, from its days: one row per partner, plus the
    caisse-wide rows (partenaire_id = ALL_PARTNERS)."""
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
    db.session.execute(insert(StatMonth).from_select(names, per_partner))
    db.session.execute(insert(StatMonth).from_select(names, caisse_wide))


def rollup(through: date | None = None) -> dict:
    """SPEC §7, the nightly job: roll every finished day not rolled yet (up to
    yesterday, Paris), then refresh the months they belong to. Idempotent, and
    catches up after missed nights. Runs before the retention purge, which
    never deletes a demande whose days are not rolled (lifecycle.purge_closed_demandes)."""
    through = through or today() - DAY
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
    for month in sorted(months):
        refresh_month(month)
    if days or state.rolled_through is None:
        state.rolled_through = max(through, state.rolled_through or through)
        state.updated_at = now()
    db.session.flush()
    return {"days": days, "rows": rows, "months": len(months)}


def purge_horizon() -> datetime | None:
    """The retention purge may delete a demande closed before this instant: its
    facts are all in the rollup (None: nothing rolled yet, nothing may go)."""
    rolled = rolled_through()
    return day_start(rolled + DAY) if rolled else None


# ---------------------------------------------------------------- reading


def _months_within(first: date, last: date):
    """Split [first, last] into whole months and the leftover days at the edges."""
    months, edges = [], []
    day = first
    while day <= last:
        month_end = next_month(day) - DAY
        if day.day == 1 and month_end <= last:
            months.append(day)
            day = month_end + DAY
        else:
            stop = min(month_end, last)
            edges.append((day, stop))
            day = stop + DAY
    return months, edges


def read(first: date, last: date, *, group=("caisse_id",), caisse_ids=None, partenaire_ids=None,
         by_month: bool = False) -> dict[tuple, dict]:
    """Measures added up over the Paris days ``first`` to ``last``, by ``group``
    (a tuple of KEY names; with ``by_month`` the first day of the month comes
    first in each key). Whole rolled months come from stat_month, the rolled
    days at the edges from stat_day, the days after the last rolled one live
    from the demandes: exact up to now, whatever the nightly job did."""
    out: dict[tuple, dict] = defaultdict(empty)
    last = min(last, today())
    if first > last:
        return out
    rolled = rolled_through()
    rolled_last = min(last, rolled) if rolled else None
    partner_rows = partenaire_ids is not None or "partenaire_id" in group

    def scoped(stmt, cls):
        stmt = _scope(stmt, cls, caisse_ids, partenaire_ids)
        if cls is StatMonth:
            stmt = stmt.where(cls.partenaire_id != ALL_PARTNERS if partner_rows else
                              cls.partenaire_id == ALL_PARTNERS)
        return stmt

    if rolled_last is not None and first <= rolled_last:
        months, edges = _months_within(first, rolled_last)
        if months:
            cols = [getattr(StatMonth, g) for g in group]
            if by_month:
                cols.insert(0, StatMonth.month)
            stmt = scoped(select(*cols, *[func.sum(getattr(StatMonth, m)).label(m) for m in MEASURES])
                          .where(StatMonth.month.in_(months)).group_by(*cols), StatMonth)
            for row in db.session.execute(stmt):
                add(out[tuple(row[: len(cols)])], row._mapping)
        for lo, hi in edges:
            cols = [getattr(StatDay, g) for g in group]
            stmt = scoped(select(*cols, *[func.sum(getattr(StatDay, m)).label(m) for m in MEASURES])
                          .where(StatDay.day >= lo, StatDay.day <= hi).group_by(*cols), StatDay)
            for row in db.session.execute(stmt):
                key = tuple(row[: len(cols)])
                add(out[(month_start(lo), *key) if by_month else key], row._mapping)
    live_first = max(first, rolled + DAY) if rolled else first
    if live_first <= last:
        index = [KEY.index(g) + 1 for g in group]
        for key, values in day_facts(live_first, last, caisse_ids=caisse_ids, partenaire_ids=partenaire_ids).items():
            k = tuple(key[i] for i in index)
            add(out[(month_start(key[0]), *k) if by_month else k], values)
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
                        partenaire_ids=partenaire_ids))
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
    rows = read(today() - timedelta(days=USUAL_DELAY_DAYS), today(), group=("service",), caisse_ids=[caisse_id])
    out = {}
    for (service,), values in rows.items():
        if values["closed"] >= MIN_FOR_DELAY:
            out[service] = percentile(values, CLOSE_HIST, 0.5)
    return out


def sla_share(values: dict) -> float | None:
    n = values["sla_met"] + values["sla_missed"]
    return values["sla_met"] / n if n else None


SERVICES = [s.value for s in Service]
__all__ = ["COUNTS", "read", "rollup", "day_facts", "percentile", "usual_delays"]
