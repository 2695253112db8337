"""Follow-up indicators and statistics (SPEC §7), and the shared resources (SPEC §6).

The statistics read rollups, never the demande table on a page view, except for
the days not rolled yet (today, or a night the job did not run), read live with
the same code (ep_web.domain.statistics). A rollup row holds counts only: no
reference, no person. So the figures of past years survive the retention purge.
"""
import secrets
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime

# Delay histograms: bucket i holds the demandes answered in DELAY_BUCKETS[i][0]
# to DELAY_BUCKETS[i][1] whole days (24 h periods); the last one is open-ended.
DELAY_BUCKETS = ((0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 10), (11, 14), (15, 21),
                 (22, 30), (31, 60), (61, 90), (91, None))
COUNTS = ("created", "closed", "taken", "complements", "sla_met", "sla_missed", "moved_in", "moved_out")
CLOSE_HIST = tuple(f"close_d{i}" for i in range(len(DELAY_BUCKETS)))
FIRST_HIST = tuple(f"first_d{i}" for i in range(len(DELAY_BUCKETS)))
MEASURES = COUNTS + CLOSE_HIST + FIRST_HIST
# partenaire_id of the caisse-wide rows of stat_month (every partner together),
# and caisse_id of its national rows (every caisse together).
ALL_PARTNERS = 0
ALL_CAISSES = 0


def bucket_of(days: int) -> int:
    for i, (low, high) in enumerate(DELAY_BUCKETS):
        if high is None or low <= days <= high:
            return i
    return len(DELAY_BUCKETS) - 1


class _Rollup:
    """Key: period × caisse × partner × service × outcome ('' for the facts
    that are no closure). Measures: MEASURES, all counts."""

    caisse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(20), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(40), primary_key=True, default="")


for _name in MEASURES:
    setattr(_Rollup, _name, mapped_column(Integer, default=0, nullable=False))
    _Rollup.__annotations__[_name] = Mapped[int]


class StatDay(_Rollup, db.Model):
    """One Paris calendar day of facts: demandes created, closed (by outcome,
    with the delay since creation), taken (delay to the first answer),
    complements asked, signalements contacted within 48 h or not."""

    __tablename__ = "stat_day"
    __table_args__ = (
        # A caisse's days at the edges of a date range: index-only (migration 0019).
        Index("ix_stat_day_caisse", "caisse_id", "day", postgresql_include=["partenaire_id", "service", "outcome",
                                                                             *COUNTS]),
        Index("ix_stat_day_partenaire", "partenaire_id", "day"),
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class StatMonth(_Rollup, db.Model):
    """The days of a month added up (first day of the month), plus caisse-wide
    rows (partenaire_id = ALL_PARTNERS) and national rows (caisse_id =
    ALL_CAISSES too) for the caisse and national pages."""

    __tablename__ = "stat_month"
    __table_args__ = (
        Index("ix_stat_month_caisse", "caisse_id", "partenaire_id", "month"),
        Index("ix_stat_month_partenaire", "partenaire_id", "month"),
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class StatYear(_Rollup, db.Model):
    """The months of a year added up (1 January), with the same caisse-wide
    and national rows as stat_month: a year's table reads one row per key."""

    __tablename__ = "stat_year"
    __table_args__ = (
        Index("ix_stat_year_partenaire", "partenaire_id", "year"),
    )
    year: Mapped[date] = mapped_column(Date, primary_key=True)


# The columns of the indicator tables (ep_web.domain.indicators) beyond COUNTS,
# as statistics.read's ``extras``: {column: (measure, service, outcomes)}.
TABLE_EXTRAS = {
    "signalements": ("created", "signalement", None),
    "closed_mas": ("closed", None, ("transmis_mission_accompagnement",)),
    "closed_parcours": ("closed", None, ("parcours_cree",)),
    "closed_soins": ("closed", None, ("parcours_cloture_soins",)),
    "closed_prevention": ("closed", None, ("examen_prevention",)),
}
TABLE_MEASURES = COUNTS + tuple(TABLE_EXTRAS)


class _Table:
    """A row of an indicator table: stat_month or stat_year with the services
    and outcomes added up (one row per period × caisse × partner, with the
    same caisse-wide and national rows), holding COUNTS and TABLE_EXTRAS.
    A caisse's table for a year reads ~2 500 narrow rows instead of the ~41 000
    of stat_year (partner × service × outcome). Kept by the rollup in the same
    upserts as stat_month and stat_year (statistics.rollup_days)."""

    caisse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(Integer, primary_key=True)


for _name in TABLE_MEASURES:
    setattr(_Table, _name, mapped_column(Integer, default=0, nullable=False))
    _Table.__annotations__[_name] = Mapped[int]


class StatMonthTable(_Table, db.Model):
    __tablename__ = "stat_month_table"
    __table_args__ = (Index("ix_stat_month_table_partenaire", "partenaire_id", "month"),)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class StatYearTable(_Table, db.Model):
    __tablename__ = "stat_year_table"
    __table_args__ = (Index("ix_stat_year_table_partenaire", "partenaire_id", "year"),)
    year: Mapped[date] = mapped_column(Date, primary_key=True)


def new_version() -> int:
    return secrets.randbits(62)


class StatState(db.Model):
    """How far the rollup went: every Paris day up to ``rolled_through``
    included is in stat_day and stat_month; later days are read live.
    ``version``: a random number set anew by every write to the stat tables
    (statistics._changed), which keys what a process keeps of their sums."""

    __tablename__ = "stat_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rolled_through: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    version: Mapped[int] = mapped_column(BigInteger, default=new_version, server_default="0")


class InformationSession(db.Model):
    """An information session the caisse held with a partner, and the staff
    it trained (SPEC §7, seed 003 art. 4): entered by the caisse."""

    __tablename__ = "information_session"
    __table_args__ = (Index("ix_information_session_scope", "caisse_id", "partenaire_id", "held_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"))
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    participants: Mapped[int] = mapped_column(Integer)
    staff_trained: Mapped[int] = mapped_column(Integer, default=0)
    # Resources presented during the session (ids of Resource).
    resource_ids: Mapped[list] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    partenaire = relationship("Partenaire")


class Resource(db.Model):
    """A document national or a caisse publishes for the partners (SPEC §6,
    seeds 003-004): a stored file (scanned like any upload) or a link."""

    __tablename__ = "resource"
    __table_args__ = (Index("ix_resource_caisse", "caisse_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caisse_id: Mapped[int | None] = mapped_column(ForeignKey("caisse.id"), nullable=True)  # None: national
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(30))
    url: Mapped[str] = mapped_column(String(500), default="")
    version: Mapped[str] = mapped_column(String(30), default="1")
    published_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    caisse = relationship("Caisse")
    attachment = relationship("Attachment", uselist=False, primaryjoin="Attachment.resource_id == Resource.id",
                              foreign_keys="Attachment.resource_id", viewonly=True)


class ResourceSubscription(db.Model):
    """A partner user who asked to be told of new resources and versions."""

    __tablename__ = "resource_subscription"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
