"""The yearly follow-up indicators of the conventions (SPEC §7, seed 003 art. 4,
seed 004 annexe 3): per partner and caisse, over a year or any date range.

Entered by the caisse: the information sessions held with the partner and
the staff trained. Computed from the demandes (ep_web.domain.statistics): the
signalement outcomes of SPEC §4, the counts per service and outcome, the share
of signalements taken within 48 hours."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from ep_web.clock import now, today
from ep_web.domain import audit, statistics
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import (
    OUTCOME_LABELS,
    SERVICE_LABELS,
    Account,
    Caisse,
    Convention,
    InformationSession,
    Outcome,
    Partenaire,
    PartenaireType,
    Profile,
    Resource,
    Service,
)
from ep_web.models.stats import CLOSE_HIST, FIRST_HIST

# The signalement outcomes the conventions follow (SPEC §4, §7), in the bilan's order.
FOLLOWED = (
    (Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT, "Détections transmises à la Mission accompagnement santé"),
    (Outcome.PARCOURS_CREE, "Parcours créés"),
    (Outcome.PARCOURS_CLOTURE_SOINS, "Parcours clôturés avec soins réalisés"),
    (Outcome.EXAMEN_PREVENTION, "Examens de prévention réalisés"),
)
MAX_PARTICIPANTS = 10_000


@dataclass
class Period:
    first: date
    last: date
    year: int | None = None

    @property
    def label(self) -> str:
        if self.year is not None:
            return f"année {self.year}"
        return f"du {self.first:%d/%m/%Y} au {self.last:%d/%m/%Y}"

    @property
    def slug(self) -> str:
        return str(self.year) if self.year is not None else f"{self.first.isoformat()}-{self.last.isoformat()}"


def year_period(year: int) -> Period:
    return Period(date(year, 1, 1), date(year, 12, 31), year)


@dataclass
class Figures:
    """The indicators of one partner (or one caisse) over a period."""

    values: dict = field(default_factory=statistics.empty)
    by_service: dict = field(default_factory=lambda: defaultdict(statistics.empty))
    by_outcome: dict = field(default_factory=lambda: defaultdict(int))
    sessions: int = 0
    participants: int = 0
    staff_trained: int = 0

    def add(self, service: str, outcome: str, values: dict) -> None:
        statistics.add(self.values, values)
        statistics.add(self.by_service[service], values)
        if outcome:
            self.by_outcome[outcome] += values["closed"]

    @property
    def created(self) -> int:
        return self.values["created"]

    @property
    def closed(self) -> int:
        return self.values["closed"]

    @property
    def signalements(self) -> int:
        return self.by_service[Service.SIGNALEMENT.value]["created"] if Service.SIGNALEMENT.value in self.by_service \
            else 0

    def outcome(self, outcome: Outcome) -> int:
        return self.by_outcome.get(outcome.value, 0)

    @property
    def sla_share(self) -> float | None:
        return statistics.sla_share(self.values)

    @property
    def sla_label(self) -> str:
        share = self.sla_share
        return "—" if share is None else f"{round(share * 100)} %"

    @property
    def complements_per_100(self) -> float | None:
        return round(self.values["complements"] * 100 / self.created, 1) if self.created else None

    def median_close(self, service: str | None = None) -> str:
        values = self.by_service.get(service, statistics.empty()) if service else self.values
        return statistics.delay_label(statistics.percentile(values, CLOSE_HIST, 0.5))

    def p90_close(self, service: str | None = None) -> str:
        values = self.by_service.get(service, statistics.empty()) if service else self.values
        return statistics.delay_label(statistics.percentile(values, CLOSE_HIST, 0.9))

    def median_first(self, service: str | None = None) -> str:
        values = self.by_service.get(service, statistics.empty()) if service else self.values
        return statistics.delay_label(statistics.percentile(values, FIRST_HIST, 0.5))


# ---------------------------------------------------------------- who sees what


def caisses_for(actor: Account) -> list[Caisse]:
    """The caisses whose indicators ``actor`` reads (SPEC §7, §8): its own
    (admin_caisse), every one (admin_national), those its structure holds a
    convention with (gestionnaire); none for anyone else."""
    stmt = select(Caisse).order_by(Caisse.name)
    if actor.profile == Profile.ADMIN_NATIONAL:
        return list(db.session.scalars(stmt))
    if actor.profile == Profile.ADMIN_CAISSE:
        return list(db.session.scalars(stmt.where(Caisse.id == actor.caisse_id)))
    if actor.profile == Profile.GESTIONNAIRE and actor.partenaire_id:
        ids = select(Convention.caisse_id).where(Convention.partenaire_id == actor.partenaire_id)
        return list(db.session.scalars(stmt.where(Caisse.id.in_(ids))))
    return []


def conventions_of(partenaire_id: int, caisse_id: int | None = None) -> list[Convention]:
    """The latest convention of the partner with each caisse (the figures are the pair's)."""
    stmt = select(Convention).where(Convention.partenaire_id == partenaire_id)
    if caisse_id is not None:
        stmt = stmt.where(Convention.caisse_id == caisse_id)
    latest = {}
    for c in db.session.scalars(stmt.order_by(Convention.signed_on, Convention.id)):
        latest[c.caisse_id] = c
    return sorted(latest.values(), key=lambda c: c.caisse.name)


def can_read(actor: Account, caisse_id: int, partenaire_id: int) -> bool:
    """SPEC §7-8: a caisse reads its partners' figures at that caisse, national
    every one, a gestionnaire its own structure's at its caisses."""
    if actor.profile == Profile.ADMIN_NATIONAL:
        return True
    if actor.profile == Profile.ADMIN_CAISSE:
        return actor.caisse_id == caisse_id and _has_convention(caisse_id, partenaire_id)
    if actor.profile == Profile.GESTIONNAIRE:
        return actor.partenaire_id == partenaire_id and _has_convention(caisse_id, partenaire_id)
    return False


def _has_convention(caisse_id: int, partenaire_id: int) -> bool:
    found = db.session.scalar(select(Convention.id).where(Convention.caisse_id == caisse_id,
                                                          Convention.partenaire_id == partenaire_id).limit(1))
    return found is not None


# ---------------------------------------------------------------- information sessions


def clean_session(held_on, topic: str, participants, staff_trained, on: date) -> dict:
    topic = (topic or "").strip()
    if held_on is None:
        raise DomainError("Indiquez la date de la session, au format JJ/MM/AAAA.", "held_on")
    if held_on > on:
        raise DomainError("La session ne peut pas être datée dans le futur : saisissez-la une fois tenue.", "held_on")
    if not topic:
        raise DomainError("Indiquez le thème de la session.", "topic")
    if len(topic) > 200:
        raise DomainError("Le thème tient en 200 caractères au plus.", "topic")
    if participants is None or not 1 <= participants <= MAX_PARTICIPANTS:
        raise DomainError("Indiquez le nombre de participants (au moins 1).", "participants")
    staff_trained = staff_trained or 0
    if not 0 <= staff_trained <= participants:
        raise DomainError("Les personnes formées sont comprises dans les participants : au plus "
                          f"{participants}.", "staff_trained")
    return dict(held_on=held_on, topic=topic, participants=participants, staff_trained=staff_trained)


def add_session(actor: Account, partenaire: Partenaire, *, held_on, topic, participants, staff_trained,
                resource_ids=()) -> InformationSession:
    """SPEC §7: the caisse (admin_caisse) records an information session held
    with a partner it holds a convention with, and the staff it trained; it
    may link the resources presented."""
    if actor.profile != Profile.ADMIN_CAISSE or not _has_convention(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seul le référent partenariat d'une caisse liée à la structure saisit ses sessions.")
    data = clean_session(held_on, topic, participants, staff_trained, today())
    allowed = {r.id for r in resources_of_caisse(actor.caisse_id)}
    ids = sorted({int(i) for i in resource_ids or [] if int(i) in allowed})
    session = InformationSession(caisse_id=actor.caisse_id, partenaire_id=partenaire.id, resource_ids=ids,
                                 created_by_id=actor.id, created_at=now(), **data)
    db.session.add(session)
    db.session.flush()
    audit.record("information_session_added", actor, target=partenaire, session_id=session.id)
    return session


def delete_session(actor: Account, session: InformationSession) -> None:
    """The caisse that entered a session may remove it (a mistake)."""
    if actor.profile != Profile.ADMIN_CAISSE or actor.caisse_id != session.caisse_id:
        raise NotAllowed("Seule la caisse qui a saisi la session peut la supprimer.")
    audit.record("information_session_deleted", actor, session_id=session.id)
    db.session.delete(session)
    db.session.flush()


def sessions_of(caisse_id: int, partenaire_id: int, period: Period) -> list[InformationSession]:
    return list(db.session.scalars(
        select(InformationSession).where(InformationSession.caisse_id == caisse_id,
                                         InformationSession.partenaire_id == partenaire_id,
                                         InformationSession.held_on >= period.first,
                                         InformationSession.held_on <= period.last)
        .order_by(InformationSession.held_on.desc(), InformationSession.id.desc())))


def resources_of_caisse(caisse_id: int) -> list[Resource]:
    """What a caisse may link to a session: its own resources and national's."""
    return list(db.session.scalars(select(Resource).where((Resource.caisse_id == caisse_id) |
                                                          (Resource.caisse_id.is_(None)))
                                   .order_by(Resource.title)))


def _session_totals(period: Period, caisse_ids, partenaire_ids=None, by=("partenaire_id",)):
    cols = [getattr(InformationSession, b) for b in by]
    stmt = (select(*cols, func.count(InformationSession.id), func.sum(InformationSession.participants),
                   func.sum(InformationSession.staff_trained))
            .where(InformationSession.held_on >= period.first, InformationSession.held_on <= period.last)
            .group_by(*cols))
    if caisse_ids is not None:
        stmt = stmt.where(InformationSession.caisse_id.in_(caisse_ids))
    if partenaire_ids is not None:
        stmt = stmt.where(InformationSession.partenaire_id.in_(partenaire_ids))
    return {tuple(r[: len(cols)]): (r[-3], r[-2] or 0, r[-1] or 0) for r in db.session.execute(stmt)}


# ---------------------------------------------------------------- figures


def partner_figures(caisse_id: int, partenaire_id: int, period: Period) -> Figures:
    """Every indicator of one partner at one caisse over the period."""
    fig = Figures()
    rows = statistics.read(period.first, period.last, group=("service", "outcome"), caisse_ids=[caisse_id],
                           partenaire_ids=[partenaire_id])
    for (service, outcome), values in rows.items():
        fig.add(service, outcome, values)
    sessions = _session_totals(period, [caisse_id], [partenaire_id]).get((partenaire_id,))
    if sessions:
        fig.sessions, fig.participants, fig.staff_trained = sessions
    return fig


def departement_of(address: str) -> str:
    """The département of a French postcode in the address ('' when none)."""
    codes = re.findall(r"\b(\d{5})\b", address or "")
    if not codes:
        return ""
    code = codes[-1]
    if code.startswith("97") or code.startswith("98"):
        return code[:3]
    if code.startswith("20"):
        return "2A" if int(code) < 20200 else "2B"
    return code[:2]


class TableFigures:
    """The figures of one line of an indicator table (a partner, or a caisse
    for national): the same reading as Figures (created, signalements,
    outcome(), sla_share...) over plain numbers; a caisse's table holds ~2 500."""

    __slots__ = ("counts", "signalements", "followed", "sessions", "participants", "staff_trained")

    def __init__(self) -> None:
        self.counts = _NO_COUNTS  # statistics.COUNTS' order
        self.signalements = 0
        self.followed = _NO_FOLLOWED  # FOLLOWED's order
        self.sessions = self.participants = self.staff_trained = 0

    @property
    def values(self) -> dict:
        return dict(zip(statistics.COUNTS, self.counts))

    @property
    def created(self) -> int:
        return self.counts[0]

    @property
    def closed(self) -> int:
        return self.counts[1]

    def outcome(self, outcome: Outcome) -> int:
        i = _FOLLOWED_INDEX.get(outcome.value)
        return 0 if i is None else self.followed[i]

    @property
    def sla_share(self) -> float | None:
        met, missed = self.counts[_SLA_MET], self.counts[_SLA_MISSED]
        return met / (met + missed) if met + missed else None

    sla_label = Figures.sla_label  # the same wording over this sla_share


_NO_COUNTS = [0] * len(statistics.COUNTS)
_NO_FOLLOWED = [0] * len(FOLLOWED)
_FOLLOWED_INDEX = {o.value: i for i, (o, _) in enumerate(FOLLOWED)}
_SLA_MET, _SLA_MISSED = statistics.COUNTS.index("sla_met"), statistics.COUNTS.index("sla_missed")
# A table's columns beyond the counts, in one summed read.
_TABLE_EXTRAS = {"signalements": ("created", Service.SIGNALEMENT.value, None),
                 **{f"closed:{o.value}": ("closed", None, (o.value,)) for o, _ in FOLLOWED}}


def _table_figures(figures: dict, period: Period, by: str, caisse_ids, partenaire_ids=None) -> None:
    """The columns of a table (one TableFigures per partner or per caisse), in
    one summed read: the counts, the signalements sent, the followed outcomes."""
    rows = statistics.read_vectors(period.first, period.last, group=(by,), caisse_ids=caisse_ids,
                                   partenaire_ids=partenaire_ids, measures=statistics.COUNTS, extras=_TABLE_EXTRAS)
    n = len(statistics.COUNTS)
    for (key,), vector in rows.items():
        fig = figures.get(key)
        if fig is not None:
            fig.counts, fig.signalements, fig.followed = vector[:n], vector[n], vector[n + 1:]


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    """What the table shows of a partner."""

    id: int
    name: str
    type: PartenaireType
    address: str


@dataclass(slots=True)
class PartnerRow:
    partenaire: PartnerInfo
    caisse: Caisse
    figures: TableFigures | None
    convention_id: int

    @property
    def departement(self) -> str:
        return departement_of(self.partenaire.address)


SORTS = {
    "nom": lambda r: r.partenaire.name.lower(),
    "type": lambda r: r.partenaire.type.label,
    "departement": lambda r: r.departement,
    "demandes": lambda r: r.figures.created,
    "signalements": lambda r: r.figures.signalements,
    "mas": lambda r: r.figures.outcome(Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT),
    "parcours": lambda r: r.figures.outcome(Outcome.PARCOURS_CREE),
    "soins": lambda r: r.figures.outcome(Outcome.PARCOURS_CLOTURE_SOINS),
    "prevention": lambda r: r.figures.outcome(Outcome.EXAMEN_PREVENTION),
    "delai48": lambda r: -1 if r.figures.sla_share is None else r.figures.sla_share,
    "sessions": lambda r: r.figures.sessions,
    "formes": lambda r: r.figures.staff_trained,
}


# The sorts that need no figure: the page is cut before any figure is read.
_SORTS_WITHOUT_FIGURES = ("nom", "type", "departement")


def partner_table_page(caisse: Caisse, period: Period, *, type_: str = "", departement: str = "",
                       sort: str = "nom", descending: bool = False, page: int | None = None,
                       size: int = 50) -> tuple[list[PartnerRow], int, int]:
    """SPEC §7: one row per partner the caisse holds (or held) a convention
    with, filtered by partner type and département, sorted by any column.
    The table's rows, all of them or one ``page`` of ``size`` (the page
    number is brought into range): (rows, number of partners, page). Sorted by
    name, type or département, the page is cut first and only its partners'
    figures are read; sorted by a figure, every partner's figures are read in
    one query (the figures, never the partners' other rows)."""
    latest, found = {}, {}
    # Plain rows, not entities, in one read: the largest caisse holds ~2 500 partners.
    for conv_id, *partner in db.session.execute(
            select(Convention.id, Partenaire.id, Partenaire.name, Partenaire.type, Partenaire.address)
            .join(Partenaire, Partenaire.id == Convention.partenaire_id).where(Convention.caisse_id == caisse.id)
            .order_by(Convention.signed_on, Convention.id)):
        latest[partner[0]] = conv_id
        found[partner[0]] = partner
    partners = sorted((PartnerInfo(*p) for p in found.values()), key=lambda p: p.name)
    if type_ in PartenaireType._value2member_map_:
        partners = [p for p in partners if p.type.value == type_]
    if departement:
        partners = [p for p in partners if departement_of(p.address) == departement]
    count = len(partners)
    out = [PartnerRow(p, caisse, None, latest[p.id]) for p in partners]  # figures once the page is cut
    key = SORTS.get(sort, SORTS["nom"])
    number = 1
    if page is not None:
        pages = max(1, -(-count // size))
        number = min(max(page, 1), pages)
    cut_first = page is not None and sort in _SORTS_WITHOUT_FIGURES
    if cut_first:
        out.sort(key=key, reverse=descending)
        out = out[(number - 1) * size: number * size]
    for r in out:
        r.figures = TableFigures()
    figures = {r.partenaire.id: r.figures for r in out}
    # A page's partners are named in the read; the whole table reads the caisse's rows.
    _table_figures(figures, period, "partenaire_id", [caisse.id], list(figures) if cut_first else None)
    for (pid,), (n, participants, trained) in _session_totals(period, [caisse.id],
                                                             list(figures) if cut_first else None).items():
        if pid in figures:
            figures[pid].sessions, figures[pid].participants, figures[pid].staff_trained = n, participants, trained
    if not cut_first:
        out.sort(key=key, reverse=descending)
        if page is not None:
            out = out[(number - 1) * size: number * size]
    return out, count, number


@dataclass(slots=True)
class CaisseRow:
    caisse: Caisse
    figures: TableFigures
    partners: int = 0


def caisse_table(period: Period) -> list[CaisseRow]:
    """SPEC §7, national: one row per caisse (its partners together)."""
    caisses = list(db.session.scalars(select(Caisse).order_by(Caisse.name)))
    figures = {c.id: TableFigures() for c in caisses}
    _table_figures(figures, period, "caisse_id", None)
    for (cid,), (n, participants, trained) in _session_totals(period, None, by=("caisse_id",)).items():
        if cid in figures:
            figures[cid].sessions, figures[cid].participants, figures[cid].staff_trained = n, participants, trained
    counts = dict(db.session.execute(select(Convention.caisse_id, func.count(func.distinct(Convention.partenaire_id)))
                                     .group_by(Convention.caisse_id)).all())
    return [CaisseRow(c, figures[c.id], counts.get(c.id, 0)) for c in caisses]


# ---------------------------------------------------------------- exports


TABLE_HEADERS = ["Structure", "Type", "Département", "Demandes envoyées", "Signalements",
                 *[label for _, label in FOLLOWED], "Signalements pris en charge sous 48 h (%)",
                 "Sessions d'information", "Participants", "Personnes formées"]


def _pct(share):
    return None if share is None else round(share * 100)


def table_rows(rows: list[PartnerRow]):
    for r in rows:
        f = r.figures
        # f.followed: f.outcome(o) for each of FOLLOWED, in its order (TableFigures).
        yield [r.partenaire.name, r.partenaire.type.label, r.departement, f.created, f.signalements,
               *f.followed, _pct(f.sla_share), f.sessions, f.participants, f.staff_trained]


def caisse_line(name: str, f: Figures) -> list:
    """One caisse's line of an export (national's table, a gestionnaire's own figures)."""
    return [name, f.created, f.signalements, *[f.outcome(o) for o, _ in FOLLOWED], _pct(f.sla_share), f.sessions,
            f.participants, f.staff_trained]


BILAN_HEADERS = ["Rubrique", "Indicateur", "Valeur"]


def bilan_rows(fig: Figures, sessions: list[InformationSession]):
    """The bilan of one partner at one caisse, one indicator a line (exports, PDF)."""
    yield ["Animation du partenariat", "Sessions d'information", fig.sessions]
    yield ["Animation du partenariat", "Participants", fig.participants]
    yield ["Animation du partenariat", "Personnes formées", fig.staff_trained]
    for outcome, label in FOLLOWED:
        yield ["Signalements", label, fig.outcome(outcome)]
    yield ["Signalements", "Signalements envoyés", fig.signalements]
    yield ["Signalements", "Pris en charge sous 48 h (%)", _pct(fig.sla_share)]
    yield ["Demandes", "Demandes envoyées", fig.created]
    yield ["Demandes", "Demandes clôturées", fig.closed]
    yield ["Demandes", "Compléments demandés pour 100 demandes", fig.complements_per_100]
    yield ["Demandes", "Délai médian jusqu'à la clôture", fig.median_close()]
    for s in Service:
        v = fig.by_service.get(s.value)
        if v and (v["created"] or v["closed"]):
            yield ["Par service", f"{SERVICE_LABELS[s]} : envoyées", v["created"]]
            yield ["Par service", f"{SERVICE_LABELS[s]} : clôturées", v["closed"]]
    for o in Outcome:
        if fig.outcome(o):
            yield ["Par issue", OUTCOME_LABELS[o], fig.outcome(o)]
    for s in sessions:
        yield ["Sessions d'information", f"{s.held_on:%d/%m/%Y} — {s.topic}",
               f"{s.participants} participants, {s.staff_trained} formés"]
