"""The « À traiter » home of each profile (SPEC §6): what needs the user's
action, as counters that link to the filtered lists.

Counts stay fast at national scale: each reads an index and is capped
(``CAP`` + 1, shown "99+") where a large number would not change what the
person does next. A counter is a :class:`Counter`; the templates show them.
"""
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import bindparam, func, literal, literal_column, or_, select, union_all

from ep_web.clock import now, today
from ep_web.domain import drafts
from ep_web.domain import notifications as notif
from ep_web.domain.access import in_force_filter
from ep_web.extensions import core_read, db
from ep_web.models import (
    OPEN_STATUSES,
    SLA_SOON,
    Account,
    AccountStatus,
    Caisse,
    Convention,
    ConventionState,
    Demande,
    DemandeStatus,
    EmailStatus,
    GestionnaireRequest,
    HabilitationReview,
    JobRun,
    OutboxEmail,
    Profile,
    RequestStatus,
    ReviewItem,
    Ticket,
    TicketStatus,
)

CAP = 99


@dataclass
class Counter:
    key: str
    label: str
    count: int
    href: str
    hint: str = ""
    urgent: bool = False
    items: list = field(default_factory=list)

    @property
    def shown(self) -> str:
        return f"{CAP}+" if self.count > CAP else str(self.count)


def _capped(query, cap: int = CAP) -> int:
    limited = query.with_only_columns(literal_column("1")).order_by(None).limit(cap + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(limited))


def _url(path: str, **args) -> str:
    args = {k: v for k, v in args.items() if v not in (None, "")}
    return path + ("?" + urlencode(args) if args else "")


# ---------------------------------------------------------------- technicien

@cache
def _technicien_counts_select(with_hidden: bool):
    """technicien_home's counts in one statement, built once per process (and
    once more for a structure with ended conventions, whose caisses are
    bound): the complements asked of the author and of the structure
    (capped), the drafts, the unread notifications per event."""
    user_id = bindparam("user_id")
    base = select(literal_column("1")).select_from(Demande).where(
        Demande.partenaire_id == bindparam("partenaire_id"), Demande.status == DemandeStatus.ATTENTE_COMPLEMENT)
    if with_hidden:
        base = base.where(Demande.caisse_id.not_in(bindparam("hidden", expanding=True)))

    def capped(query, key: str):
        return (select(literal("count").label("kind"), literal(key).label("key"), func.count().label("n"))
                .select_from(query.limit(CAP + 1).subquery()))

    unread = notif.unread_by_event_select(user_id).subquery()
    return union_all(
        capped(base.where(Demande.author_id == user_id), "complements_mine"),
        capped(base, "complements_structure"),
        select(literal("count"), literal("drafts"), drafts.count_select(user_id).scalar_subquery()),
        select(literal("event"), *unread.c))


def technicien_home(user: Account, hidden: list[int] | None = None) -> list[Counter]:
    """SPEC §6 for a technicien: complements asked on the structure's demandes
    (the author's own first), caisse replies not read yet, documents to
    download, tickets answered, drafts in progress (SPEC §8). ``hidden``: the
    caisses whose demandes the structure no longer sees, when already read
    (ep_web.domain.access.conventions_and_hidden)."""
    if hidden is None:
        from ep_web.domain.demandes import hidden_caisse_ids

        hidden = hidden_caisse_ids(user.partenaire_id)
    params = {"partenaire_id": user.partenaire_id, "user_id": user.id}
    if hidden:
        params["hidden"] = hidden
    rows = db.session.execute(_technicien_counts_select(bool(hidden)), params).all()
    counts = {key: n for kind, key, n in rows if kind == "count"}
    unread = notif.capped_by_event((key, n) for kind, key, n in rows if kind == "event")
    mine, structure = counts["complements_mine"], counts["complements_structure"]
    status = DemandeStatus.ATTENTE_COMPLEMENT.value
    return [
        Counter("complements_mine", "Compléments demandés sur mes demandes", mine,
                _url("/demandes", status=status, author_id=user.id), urgent=mine > 0),
        Counter("complements_structure", "Compléments demandés sur les demandes de la structure", structure,
                _url("/demandes", status=status), hint="Y compris celles de vos collègues."),
        Counter("replies", "Nouvelles réponses de la caisse non lues", unread.get("reply", 0),
                _url("/notifications", non_lues=1)),
        Counter("documents", "Documents disponibles à télécharger", unread.get("document", 0),
                _url("/notifications", non_lues=1)),
        Counter("tickets", "Signalements de problème ayant reçu une réponse", unread.get("ticket", 0),
                _url("/notifications", non_lues=1)),
        Counter("drafts", "Brouillons de demandes en cours", counts["drafts"], "/demandes/brouillons",
                hint="Enregistrés au fil de la frappe, gardés 30 jours."),
    ]


# ---------------------------------------------------------------- gestionnaire

def soon_idle_techniciens(partenaire_id: int) -> list[Account]:
    """SPEC §3 automatic inactivation: the structure's techniciens whom the
    3-month rule inactivates within 7 days (the same rule as the nightly job)."""
    from ep_web.domain.lifecycle import _idle_rule_applies, _idle_since

    days = current_app.config["IDLE_INACTIVATION_DAYS"]
    cutoff = now() - timedelta(days=days) + timedelta(days=7)
    return list(db.session.scalars(
        select(Account).where(Account.partenaire_id == partenaire_id, _idle_rule_applies(today()),
                              _idle_since(cutoff)).order_by(Account.nom, Account.prenom, Account.id)))


def gestionnaire_home(user: Account) -> list[Counter]:
    """SPEC §6 for a gestionnaire: the review campaign to answer (deadline),
    requests pending at the caisse (deadlines), techniciens soon inactivated
    for inactivity, seats used against the quota."""
    from ep_web.domain import quotas, reviews

    out = []
    review = reviews.open_review_for(user.partenaire_id)
    if review is not None:
        left = db.session.scalar(select(func.count()).select_from(ReviewItem).where(
            ReviewItem.review_id == review.id, ReviewItem.decision.is_(None)))
        out.append(Counter("review", "Comptes à confirmer dans la revue des habilitations", left,
                           "/gestion/habilitations", hint=f"Échéance le {review.deadline:%d/%m/%Y}.",
                           urgent=review.deadline <= today()))
    else:
        out.append(Counter("review", "Comptes à confirmer dans la revue des habilitations", 0,
                           "/gestion/habilitations", hint="Aucune revue en cours."))
    pending = list(db.session.scalars(
        select(GestionnaireRequest).where(GestionnaireRequest.partenaire_id == user.partenaire_id,
                                          GestionnaireRequest.status == RequestStatus.PENDING)
        .order_by(GestionnaireRequest.deadline, GestionnaireRequest.id).limit(CAP + 1)))
    hint = f"Première échéance le {pending[0].deadline:%d/%m/%Y}." if pending else ""
    out.append(Counter("requests", "Demandes en attente à la caisse", len(pending), "/gestion/demandes", hint=hint,
                       items=pending[:5]))
    idle = soon_idle_techniciens(user.partenaire_id)
    out.append(Counter("idle", "Techniciens inactivés pour inactivité d'ici 7 jours", len(idle), "/#inactivite",
                       urgent=bool(idle), items=idle))
    seats = quotas.usage(user.partenaire, Profile.TECHNICIEN)
    out.append(Counter("seats", "Comptes techniciens utilisés", seats.used, "/gestion/",
                       hint=f"{seats.used} sur {seats.limit} autorisés."))
    return out


# ---------------------------------------------------------------- agent: the cockpit

# The cockpit's tabs (SPEC §4 Caisse queue, §6): each is a filter of /traitement (``onglet``).
AGENT_TABS = {
    "urgentes": "Urgentes",
    "moins-12h": "Moins de 12 h restantes",
    "en-retard": "En retard",
    "non-prises": "Non prises en charge",
    "attente-partenaire": "En attente de la structure",
    "reponse-partenaire": "La structure a répondu",
    "mes-demandes": "Prises en charge par moi",
}


def tab_filter(user: Account, tab: str, at=None, soon=None):
    """The WHERE clauses of one tab of the agent's cockpit (open demandes of
    the caisse are the base), or None for an unknown tab. ``soon`` is ``at +
    SLA_SOON`` (given apart when ``at`` is a bound parameter)."""
    at = now() if at is None else at
    soon = at + SLA_SOON if soon is None else soon
    open_ = Demande.status.in_(OPEN_STATUSES)
    return {
        "urgentes": [open_, Demande.urgent.is_(True)],
        "moins-12h": [open_, Demande.due_at.is_not(None), Demande.due_at > at, Demande.due_at <= soon],
        "en-retard": [open_, Demande.due_at.is_not(None), Demande.due_at <= at],
        "non-prises": [Demande.status == DemandeStatus.TRANSMISE],
        "attente-partenaire": [Demande.status == DemandeStatus.ATTENTE_COMPLEMENT],
        "reponse-partenaire": [open_, Demande.assigned_to_id == user.id, Demande.partner_replied_at.is_not(None)],
        "mes-demandes": [open_, Demande.assigned_to_id == user.id],
    }.get(tab)


@cache
def tab_count_subqueries() -> dict:
    """Each cockpit tab's rows, capped (a subquery per tab), built once per
    process with the caisse, the agent and the times as bound parameters
    ("caisse_id", "agent_id", "at", "soon": tab_count_values): building its
    seven subqueries on every queue view cost more CPU than running them.
    The queue's page reads their counts with its rows
    (ep_web.domain.demandes._queue_statements)."""
    from types import SimpleNamespace

    agent = SimpleNamespace(id=bindparam("agent_id"))
    at, soon = bindparam("at", type_=Demande.due_at.type), bindparam("soon", type_=Demande.due_at.type)
    return {tab: (select(literal_column("1")).select_from(Demande)
                  .where(Demande.caisse_id == bindparam("caisse_id"), *tab_filter(agent, tab, at, soon))
                  .limit(CAP + 1).subquery())
            for tab in AGENT_TABS}


@cache
def _tab_counts_select():
    """agent_tab_counts' statement, built once per process."""
    return union_all(*(select(literal(tab).label("tab"), func.count().label("n")).select_from(limited)
                       for tab, limited in tab_count_subqueries().items()))


def tab_count_values(user: Account, at=None) -> dict:
    at = now() if at is None else at
    return {"caisse_id": user.caisse_id, "agent_id": user.id, "at": at, "soon": at + SLA_SOON}


def agent_tab_counts(user: Account) -> dict[str, int]:
    """SPEC §4/§6: the count of each cockpit tab, capped, in one round trip."""
    return dict(core_read(_tab_counts_select(), tab_count_values(user)).all())


def agent_home(user: Account) -> list[Counter]:
    counts = agent_tab_counts(user)
    return [Counter(tab, label, counts.get(tab, 0), _url("/traitement", onglet=tab),
                    urgent=tab in ("urgentes", "en-retard", "reponse-partenaire") and counts.get(tab, 0) > 0)
            for tab, label in AGENT_TABS.items()]


# ---------------------------------------------------------------- admin_caisse

def admin_caisse_home(user: Account) -> list[Counter]:
    """SPEC §6 for the référent: gestionnaire requests by deadline (overdue
    first), open tickets, reviews overdue, conventions ending within 60 days,
    accounts inactivated for fraud, loss or theft (or locked) this week."""
    from ep_web.domain.lifecycle import REASON_END, REASON_IDLE, REASON_LEAVING
    from ep_web.models import LoginThrottle

    t, d = now(), today()
    pending = list(db.session.scalars(
        select(GestionnaireRequest).where(GestionnaireRequest.caisse_id == user.caisse_id,
                                          GestionnaireRequest.status == RequestStatus.PENDING)
        .order_by(GestionnaireRequest.deadline, GestionnaireRequest.id).limit(CAP + 1)))
    overdue = sum(1 for r in pending if r.deadline < d)
    tickets = _capped(select(Ticket.id).where(Ticket.caisse_id == user.caisse_id,
                                              Ticket.status.in_((TicketStatus.OUVERT, TicketStatus.EN_COURS))))
    reviews = _capped(select(HabilitationReview.id).where(HabilitationReview.caisse_id == user.caisse_id,
                                                          HabilitationReview.completed_at.is_(None),
                                                          HabilitationReview.deadline < d))
    ending = _capped(select(Convention.id).where(
        Convention.caisse_id == user.caisse_id, *in_force_filter(d), Convention.ends_on <= d + timedelta(days=60),
        or_(Convention.state == ConventionState.DENONCEE, Convention.tacit_renewal.is_(False))))
    partners = select(Convention.partenaire_id).where(Convention.caisse_id == user.caisse_id)
    fraud = _capped(select(Account.id).where(
        Account.partenaire_id.in_(partners), Account.status == AccountStatus.INACTIVE,
        Account.inactivated_at >= t - timedelta(days=7),
        Account.inactivation_reason.not_in((REASON_IDLE, REASON_LEAVING, REASON_END, ""))))
    throttle_key = literal("login:") + Account.login
    locked = _capped(select(Account.id).join(LoginThrottle, LoginThrottle.key == throttle_key).where(
        Account.partenaire_id.in_(partners), LoginThrottle.locked_until > t))
    hint = f"Dont {overdue} en retard." if overdue else (
        f"Première échéance le {pending[0].deadline:%d/%m/%Y}." if pending else "")
    return [
        Counter("requests", "Demandes des gestionnaires à traiter", len(pending), "/caisse/demandes", hint=hint,
                urgent=overdue > 0, items=pending[:5]),
        Counter("tickets", "Tickets ouverts", tickets, "/caisse/tickets"),
        Counter("reviews", "Revues des habilitations en retard", reviews, "/caisse/partenaires", urgent=reviews > 0),
        Counter("conventions", "Conventions qui prennent fin dans les 60 jours", ending, "/caisse/partenaires"),
        Counter("fraud", "Comptes inactivés (fraude, perte, vol) cette semaine", fraud, "/caisse/journal"),
        Counter("locked", "Comptes partenaires bloqués après des échecs de connexion", locked, "/caisse/journal"),
        _breaches_counter(user.caisse_id),
    ]


def _breaches_counter(caisse_id: int | None) -> Counter:
    """SPEC §7: the suspected data breaches not closed yet (the caisse's, or
    every one for national), urgent while any waits for its CNIL decision."""
    from ep_web.models import BreachReport

    query = select(BreachReport.id).where(BreachReport.closed_at.is_(None))
    if caisse_id is not None:
        query = query.where(BreachReport.caisse_id == caisse_id)
    open_count = _capped(query)
    waiting = _capped(query.where(BreachReport.cnil_decided_at.is_(None)))
    return Counter("breaches", "Suspicions de violation de données en cours", open_count, "/violations",
                   hint=f"Dont {waiting} sans décision sur la notification à la CNIL (72 h)." if waiting else "",
                   urgent=waiting > 0)


# ---------------------------------------------------------------- admin_national

def admin_national_home(user: Account) -> list[Counter]:
    """SPEC §6 for national: escalated tickets, failed e-mails, failed jobs
    (last 7 days), caisses with no active admin."""
    t = now()
    escalated = _capped(select(Ticket.id).where(Ticket.status == TicketStatus.ESCALADE))
    failed_mail = _capped(select(OutboxEmail.id).where(OutboxEmail.status == EmailStatus.FAILED))
    failed_jobs = _capped(select(JobRun.id).where(JobRun.status == "failed",
                                                  JobRun.started_at >= t - timedelta(days=7)))
    has_admin = select(Account.id).where(Account.caisse_id == Caisse.id, Account.profile == Profile.ADMIN_CAISSE,
                                         Account.status == AccountStatus.ACTIVE).exists()
    orphan = _capped(select(Caisse.id).where(~has_admin))
    return [
        Counter("escalated", "Tickets en escalade", escalated, _url("/national/tickets", status="escalade"),
                urgent=escalated > 0),
        Counter("failed_mail", "E-mails en échec", failed_mail, "/national/taches", urgent=failed_mail > 0),
        Counter("failed_jobs", "Tâches en échec (7 derniers jours)", failed_jobs, "/national/taches",
                urgent=failed_jobs > 0),
        Counter("orphan_caisses", "Caisses sans administrateur actif", orphan, "/national/caisses",
                urgent=orphan > 0),
        _breaches_counter(None),
    ]


HOMES = {
    Profile.TECHNICIEN: technicien_home,
    Profile.GESTIONNAIRE: gestionnaire_home,
    Profile.AGENT: agent_home,
    Profile.ADMIN_CAISSE: admin_caisse_home,
    Profile.ADMIN_NATIONAL: admin_national_home,
}


def counters(user: Account) -> list[Counter]:
    """SPEC §6: the « À traiter » counters of the user's profile."""
    return HOMES[user.profile](user)

