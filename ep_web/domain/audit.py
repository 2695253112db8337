"""Audit log (SPEC §7): every security-relevant action, append-only, and its
search by the admins (a caisse sees its own events only, SPEC §8)."""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, insert, or_, select

from ep_web.clock import PARIS, now
from ep_web.extensions import db
from ep_web.models import Account, AuditEvent, Caisse, Convention, Partenaire

# The actions written; labels for the admin search page.
ACTIONS = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "login_locked": "Compte verrouillé (trop d'échecs)",
    "logout": "Déconnexion",
    "session_closed": "Session fermée à distance",
    "account_created": "Compte créé",
    "account_activated": "Compte activé",
    "account_changed": "Compte modifié",
    "account_inactivated": "Compte inactivé",
    "account_reactivated": "Compte réactivé",
    "account_inactivation_scheduled": "Inactivation programmée",
    "account_inactivation_waiting": "Inactivation en attente d'un autre gestionnaire actif",
    "account_deleted": "Compte supprimé",
    "misuse_reported": "Usage frauduleux signalé",
    "retention_extended": "Conservation d’une demande prolongée",
    "password_changed": "Mot de passe changé",
    "password_reset_requested": "Réinitialisation demandée",
    "cgu_accepted": "CGU acceptées",
    "partenaire_created": "Partenaire créé",
    "partenaire_changed": "Partenaire modifié",
    "partenaire_suspended": "Partenaire suspendu",
    "partenaire_unsuspended": "Suspension levée",
    "convention_created": "Convention créée",
    "convention_changed": "Convention modifiée",
    "caisse_created": "Caisse créée",
    "caisse_changed": "Caisse modifiée",
    "activation_resent": "Lien d'activation renvoyé",
    "request_filed": "Demande à la caisse déposée",
    "request_handled": "Demande à la caisse traitée",
    "review_opened": "Revue des habilitations ouverte",
    "review_answered": "Revue des habilitations : réponse",
    "export": "Export",
    "document_downloaded": "Document téléchargé",
    "file_infected": "Virus détecté dans un fichier stocké",
    "breach_reported": "Suspicion de violation de données signalée",
    "breach_qualified": "Violation de données : qualification",
    "breach_cnil_decided": "Violation de données : décision de notification à la CNIL",
    "breach_closed": "Violation de données : dossier clos",
    "email_resent": "E-mail renvoyé",
    "idle_reminder_sent": "Rappel avant inactivation envoyé",
    "shared_mailbox_changed": "Boîte aux lettres de la structure modifiée",
    "second_factor_enrolled": "Double authentification activée",
    "second_factor_failed": "Code de double authentification refusé",
    "second_factor_reset": "Double authentification réinitialisée",
    "recovery_code_used": "Code de secours utilisé",
    "recovery_codes_regenerated": "Codes de secours régénérés",
    "reauthenticated": "Identité confirmée avant une action sensible",
    "proconnect_linked": "Compte relié à ProConnect",
    "proconnect_refused": "Connexion ProConnect refusée",
    "information_session_added": "Session d'information saisie",
    "information_session_deleted": "Session d'information supprimée",
    "resource_published": "Ressource publiée",
    "resource_deleted": "Ressource retirée",
}


def record(
    action: str,
    actor: Account | None = None,
    *,
    target: object | None = None,
    caisse_id: int | None = None,
    partenaire_id: int | None = None,
    ip: str = "",
    actor_login: str = "",
    **details,
) -> AuditEvent:
    """Write one audit event in the current transaction. ``details`` must never
    hold an insured person's data (SPEC §7)."""
    assert action in ACTIONS, action
    event = AuditEvent(
        at=now(),
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_login=actor.login if actor is not None else actor_login,
        target_type=type(target).__tablename__ if target is not None else "",
        target_id=getattr(target, "id", None),
        caisse_id=caisse_id if caisse_id is not None else getattr(target, "caisse_id", None),
        partenaire_id=partenaire_id if partenaire_id is not None else getattr(target, "partenaire_id", None),
        ip=ip,
        details=details,
    )
    db.session.add(event)
    return event


# ---------------------------------------------------------------- search (SPEC §7)

PER_PAGE = 50


@dataclass
class AuditFilters:
    action: str = ""
    login: str = ""
    date_from: date | None = None
    date_to: date | None = None
    partenaire_id: int | None = None
    caisse_id: int | None = None  # a filter, only offered to the national administration

    def as_args(self) -> dict:
        """Back to query-string values (for the pagination links)."""
        out = {
            "evenement": self.action,
            "auteur": self.login,
            "du": self.date_from.isoformat() if self.date_from else "",
            "au": self.date_to.isoformat() if self.date_to else "",
            "partenaire": str(self.partenaire_id) if self.partenaire_id else "",
            "caisse": str(self.caisse_id) if self.caisse_id else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class AuditResults:
    events: list
    total: int
    page: int
    pages: int
    caisse_names: dict = field(default_factory=dict)
    partenaire_names: dict = field(default_factory=dict)
    target_labels: dict = field(default_factory=dict)


def scope_clause(caisse_id: int):
    """What a caisse may see (SPEC §8: never another caisse's data): the events
    about the caisse itself, and the events of the partners it has (or had) a
    convention with that no other caisse wrote (a partner shared by two caisses
    shows each caisse its own actions, plus the partner's own)."""
    partners = select(Convention.partenaire_id).where(Convention.caisse_id == caisse_id)
    return or_(
        AuditEvent.caisse_id == caisse_id,
        and_(AuditEvent.caisse_id.is_(None), AuditEvent.partenaire_id.in_(partners)),
    )


def _paris_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_events(caisse_id: int | None, filters: AuditFilters, page: int = 1) -> AuditResults:
    """SPEC §7: the admins search the audit log, newest first, PER_PAGE by page
    (a page past the end shows the last); ``caisse_id`` restricts the search to
    that caisse's scope (SPEC §8, :func:`scope_clause`)."""
    q = select(AuditEvent)
    if caisse_id is not None:
        q = q.where(scope_clause(caisse_id))
    if filters.action:
        q = q.where(AuditEvent.action == filters.action)
    if filters.login:
        q = q.where(AuditEvent.actor_login.ilike(f"%{_escape_like(filters.login)}%", escape="\\"))
    if filters.date_from:
        q = q.where(AuditEvent.at >= _paris_midnight_utc(filters.date_from))
    if filters.date_to:
        q = q.where(AuditEvent.at < _paris_midnight_utc(filters.date_to + timedelta(days=1)))
    if filters.partenaire_id:
        q = q.where(AuditEvent.partenaire_id == filters.partenaire_id)
    if filters.caisse_id:
        # The national view of one caisse is what that caisse itself sees.
        q = q.where(scope_clause(filters.caisse_id))
    q = q.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())

    page = max(1, page)
    pagination = db.paginate(q, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    if pagination.pages and page > pagination.pages:
        page = pagination.pages
        pagination = db.paginate(q, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    events = list(pagination.items)

    caisse_ids = {e.caisse_id for e in events if e.caisse_id}
    partenaire_ids = {e.partenaire_id for e in events if e.partenaire_id}
    caisse_names = dict(db.session.execute(select(Caisse.id, Caisse.name).where(Caisse.id.in_(caisse_ids))).all()) \
        if caisse_ids else {}
    partenaire_names = dict(
        db.session.execute(select(Partenaire.id, Partenaire.name).where(Partenaire.id.in_(partenaire_ids))).all()
    ) if partenaire_ids else {}
    return AuditResults(events=events, total=pagination.total or 0, page=page, pages=pagination.pages or 1,
                        caisse_names=caisse_names, partenaire_names=partenaire_names,
                        target_labels=target_labels(events))


_TARGET_KINDS = {"account": "Compte", "demande": "Demande", "ticket": "Ticket", "partenaire": "Partenaire",
                 "caisse": "Caisse", "convention": "Convention", "news": "Actualité"}


def target_labels(events) -> dict:
    """SPEC §7: the journal names what an event is about — a person's name for
    an account ("compte supprimé" once erased), a reference for a demande or a
    ticket, a name for a structure or a caisse — read in one query per kind."""
    from ep_web.models import AccountStatus, Demande, Ticket

    wanted: dict[str, set[int]] = {}
    for e in events:
        if e.target_type and e.target_id is not None:
            wanted.setdefault(e.target_type, set()).add(e.target_id)
    labels: dict = {}
    def pairs(id_col, label_col):
        return lambda ids: db.session.execute(select(id_col, label_col).where(id_col.in_(ids))).all()

    def accounts(ids):
        return ((a.id, a.full_name if a.status == AccountStatus.DELETED else f"{a.full_name} ({a.login})")
                for a in db.session.scalars(select(Account).where(Account.id.in_(ids))))

    readers = {"account": accounts, "demande": pairs(Demande.id, Demande.reference),
               "ticket": pairs(Ticket.id, Ticket.reference), "partenaire": pairs(Partenaire.id, Partenaire.name),
               "caisse": pairs(Caisse.id, Caisse.name)}
    for kind, ids in wanted.items():
        found = dict(readers[kind](ids)) if kind in readers else {}
        for target_id in ids:
            name = found.get(target_id)
            if name is None and kind == "account":
                name = "compte supprimé"
            labels[(kind, target_id)] = name or f"{_TARGET_KINDS.get(kind, kind)} n° {target_id}"
    return labels


def record_many(action: str, rows, actor: Account | None = None, **details) -> int:
    """SPEC §7: the same event for many targets at once (the set-based rules),
    in one INSERT. ``rows`` are (target_type, target_id, caisse_id,
    partenaire_id, extra details). Without an actor, the event is marked
    ``automatic`` (a scheduled rule did it)."""
    assert action in ACTIONS, action
    if not rows:
        return 0
    at = now()
    if actor is None:
        details = {**details, "automatic": True}
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "at": at,
                "action": action,
                "actor_id": actor.id if actor is not None else None,
                "actor_login": actor.login if actor is not None else "",
                "target_type": target_type,
                "target_id": target_id,
                "caisse_id": caisse_id,
                "partenaire_id": partenaire_id,
                "ip": "",
                "details": {**details, **extra},
            }
            for target_type, target_id, caisse_id, partenaire_id, extra in rows
        ],
    )
    return len(rows)
