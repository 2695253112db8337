"""Suspected personal-data breaches (SPEC §7, seed 004 annexe 3 §8, RGPD
art. 33).

Any user reports one in a single form: what happened, when it was noticed
(not in the future), what may be concerned (free text, plus the references of
the demandes concerned, each checked against what the reporter may see). The
NIR guard applies to every free text. At once the caisse's DPO mailbox (its
referent mailbox when none is registered) and its active admin_caisse
accounts are e-mailed — the reference and a link, nothing else.

The report then shows two clocks: the partner's 24 hours from the moment the
breach was noticed, and the caisse's 72 hours from the moment it learnt of it
(RGPD art. 33). The caisse's admin_caisse follow it up: qualification
(qualifiée / non qualifiée), the decision to notify the CNIL or not with its
reason, closure. Every step is audited.

Functions flush, never commit.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.textguard import check_texts
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import Account, AccountStatus, BreachReport, Caisse, Convention, Demande, Profile, Qualification
from ep_web.permissions.breaches import (
    PARTNER_PROFILES,
    can_follow_up_breach,
    can_report_breach,
    reporter_side,
)

DESCRIPTION_MAX = 5000
CONCERNED_MAX = 5000
REASON_MAX = 2000
MAX_REFERENCES = 50
REFERENCE = re.compile(r"^EP-\d{4}-\d{6}$")
_SPLIT = re.compile(r"[\s,;]+")


# ---------------------------------------------------------------- reporting


def parse_noticed(date_text: str | None, time_text: str | None) -> datetime:
    """The moment noticed, typed in Paris time: a date (jj/mm/aaaa, or
    aaaa-mm-jj as a date picker sends it) and a time (hh:mm, 14h30 or 14:30:00).
    Bad input is a DomainError on its field, never a crash."""
    from datetime import date as date_cls
    from datetime import time as time_cls

    from ep_web.clock import PARIS

    raw_date = (date_text or "").strip()
    day = None
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", raw_date) or None
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", raw_date)
    try:
        if m:
            day = date_cls(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        elif iso:
            day = date_cls(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    except ValueError:
        day = None
    if day is None:
        raise DomainError("Indiquez une date valide, au format jj/mm/aaaa.", "noticed_date")
    t = re.fullmatch(r"(\d{1,2})\s*[:hH]\s*(\d{2})?(?::\d{2})?", (time_text or "").strip())
    if not t or int(t.group(1)) > 23 or int(t.group(2) or 0) > 59:
        raise DomainError("Indiquez une heure valide, au format hh:mm.", "noticed_time")
    local = datetime.combine(day, time_cls(int(t.group(1)), int(t.group(2) or 0)), tzinfo=PARIS)
    return local.astimezone(timezone.utc)


def reportable_caisses(actor: Account) -> list[Caisse]:
    """The caisses the actor may report to: a partner user's every caisse
    its structure holds (or held) a convention with — a breach may come to
    light after a convention ended; a caisse user's own caisse; national,
    every caisse (SPEC §7)."""
    if actor.profile in PARTNER_PROFILES:
        query = (select(Caisse).join(Convention, Convention.caisse_id == Caisse.id)
                 .where(Convention.partenaire_id == actor.partenaire_id).distinct())
    elif actor.profile in (Profile.AGENT, Profile.ADMIN_CAISSE):
        query = select(Caisse).where(Caisse.id == actor.caisse_id)
    elif actor.profile == Profile.ADMIN_NATIONAL:
        query = select(Caisse)
    else:
        return []
    return sorted(db.session.scalars(query), key=lambda c: c.name)


def parse_references(text: str | None) -> list[str]:
    """Demande references typed in a free field (separated by spaces, commas,
    semicolons or lines), upper-cased, without duplicates, in order."""
    out: list[str] = []
    for token in _SPLIT.split((text or "").strip()):
        token = token.strip().upper()
        if token and token not in out:
            out.append(token)
    return out


def _check_references(actor: Account, caisse_id: int, references: list[str]) -> list[str]:
    if len(references) > MAX_REFERENCES:
        raise DomainError(f"Indiquez au plus {MAX_REFERENCES} références de demandes.", "demande_references")
    bad = [r for r in references if not REFERENCE.match(r)]
    if bad:
        raise DomainError(f"« {bad[0][:30]} » n'est pas une référence de demande (format EP-2026-000123).",
                          "demande_references")
    if not references:
        return []
    query = select(Demande.reference).where(Demande.reference.in_(references), Demande.caisse_id == caisse_id)
    if actor.profile in PARTNER_PROFILES:
        query = query.where(Demande.partenaire_id == actor.partenaire_id)
    known = set(db.session.scalars(query))
    unknown = [r for r in references if r not in known]
    if unknown:
        whose = "de votre structure adressée à cette caisse" if actor.profile in PARTNER_PROFILES \
            else "de cette caisse"
        raise DomainError(f"La référence {unknown[0]} ne correspond à aucune demande {whose}.",
                          "demande_references")
    return references


def report_breach(actor: Account, *, caisse_id: int | None, description: str, noticed_at: datetime | None,
                  concerned: str = "", demande_references: str = "") -> BreachReport:
    """Record a suspected data breach and alert the caisse at once (SPEC §7):
    the DPO mailbox (or the referent mailbox) and every active admin_caisse
    of the caisse, reference and link only. ``noticed_at`` (aware, UTC) may
    not be in the future; the NIR guard applies to the free texts."""
    if not can_report_breach(actor):
        raise NotAllowed("Votre profil ne permet pas de signaler une violation de données.")
    caisses = {c.id: c for c in reportable_caisses(actor)}
    if not caisses:
        raise DomainError("Votre structure n'a de convention avec aucune caisse : contactez directement "
                          "le délégué à la protection des données de votre caisse.", "caisse_id")
    if caisse_id not in caisses:
        raise DomainError("Choisissez la caisse à prévenir.", "caisse_id")
    description = (description or "").strip()
    concerned = (concerned or "").strip()
    if not description:
        raise DomainError("Décrivez ce qui s'est passé.", "description")
    if len(description) > DESCRIPTION_MAX:
        raise DomainError(f"La description ne doit pas dépasser {DESCRIPTION_MAX} caractères.", "description")
    if len(concerned) > CONCERNED_MAX:
        raise DomainError(f"Ce champ ne doit pas dépasser {CONCERNED_MAX} caractères.", "concerned")
    if noticed_at is None:
        raise DomainError("Indiquez la date et l'heure où la violation a été constatée.", "noticed_date")
    current = now()
    if noticed_at > current:
        raise DomainError("La date et l'heure du constat ne peuvent pas être dans le futur.", "noticed_date")
    if noticed_at < current - timedelta(days=3660):
        raise DomainError("La date du constat paraît erronée : vérifiez l'année.", "noticed_date")
    check_texts({"description": description, "concerned": concerned, "demande_references": demande_references})
    references = _check_references(actor, caisse_id, parse_references(demande_references))

    side = reporter_side(actor)
    report = BreachReport(reference=f"tmp-{secrets.token_hex(8)}", caisse_id=caisse_id,
                          partenaire_id=actor.partenaire_id if side == "partenaire" else None,
                          author_id=actor.id, side=side, description=description, noticed_at=noticed_at,
                          concerned=concerned, demande_references=references, created_at=current)
    db.session.add(report)
    db.session.flush()
    # Readable and unique without a lock: built from the row id, like tickets.
    report.reference = f"VD-{today().year}-{report.id:05d}"
    audit.record("breach_reported", actor, target=report, reference=report.reference, side=side)
    _alert_caisse(report)
    db.session.flush()
    return report


def breach_recipients(caisse: Caisse) -> list[str]:
    """The DPO mailbox (the referent mailbox when none is registered) and
    every active admin_caisse of the caisse, each address once."""
    out: list[str] = []
    first = (caisse.dpo_email or caisse.referent_email or "").strip()
    if first:
        out.append(first)
    for email in db.session.scalars(
        select(Account.email).where(Account.caisse_id == caisse.id, Account.profile == Profile.ADMIN_CAISSE,
                                    Account.status == AccountStatus.ACTIVE, Account.email != "")
        .order_by(Account.id)
    ):
        if email.lower() not in {e.lower() for e in out}:
            out.append(email)
    return out


def _alert_caisse(report: BreachReport) -> None:
    subject = f"Suspicion de violation de données à traiter ({report.reference})"
    for to in breach_recipients(report.caisse):
        queue_email(to, "breach_reported", subject, report=report)


# ---------------------------------------------------------------- follow-up


def _follow_up_check(actor: Account, report: BreachReport) -> None:
    if not can_follow_up_breach(actor, report):
        raise NotAllowed("Seul le référent de la caisse destinataire assure le suivi de ce signalement.")
    if report.is_closed:
        raise DomainError("Ce signalement est clos.")


def qualify(actor: Account, report: BreachReport, qualification: str, comment: str = "") -> None:
    """The caisse qualifies the report: a personal-data breach or not (SPEC
    §7). Possible until the CNIL decision is recorded; audited."""
    _follow_up_check(actor, report)
    if not report.can_qualify:
        raise DomainError("La décision de notification à la CNIL est déjà prise : la qualification ne change plus.")
    try:
        value = Qualification(qualification)
    except ValueError:
        raise DomainError("Choisissez si la violation est qualifiée ou non.", "qualification") from None
    comment = (comment or "").strip()
    if len(comment) > REASON_MAX:
        raise DomainError(f"Le commentaire ne doit pas dépasser {REASON_MAX} caractères.", "comment")
    check_texts({"comment": comment})
    report.qualification = value
    report.qualification_comment = comment
    report.qualified_at = now()
    report.qualified_by_id = actor.id
    audit.record("breach_qualified", actor, target=report, reference=report.reference, qualification=value.value)
    db.session.flush()


def decide_cnil(actor: Account, report: BreachReport, notified: str, reason: str) -> None:
    """Whether the CNIL was notified, and why (RGPD art. 33: a breach not
    notified is documented with its reason). Only for a qualified breach; the
    reason is required either way; stops the caisse's 72 h clock; audited."""
    _follow_up_check(actor, report)
    if not report.can_decide_cnil:
        # No field: the CNIL form is not on the page yet, the message goes on top.
        raise DomainError("Qualifiez d'abord la violation : la notification à la CNIL ne concerne que les "
                          "violations qualifiées.")
    if notified not in ("oui", "non"):
        raise DomainError("Indiquez si la CNIL a été notifiée.", "notified")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Indiquez le motif de la décision (date et référence de la notification, ou raison "
                          "de ne pas notifier).", "reason")
    if len(reason) > REASON_MAX:
        raise DomainError(f"Le motif ne doit pas dépasser {REASON_MAX} caractères.", "reason")
    check_texts({"reason": reason})
    report.cnil_notified = notified == "oui"
    report.cnil_reason = reason
    report.cnil_decided_at = now()
    report.cnil_decided_by_id = actor.id
    audit.record("breach_cnil_decided", actor, target=report, reference=report.reference,
                 cnil_notified=report.cnil_notified)
    db.session.flush()


def close(actor: Account, report: BreachReport) -> None:
    """Close the report once qualified (and, for a breach, once the CNIL
    decision is recorded); audited (SPEC §7)."""
    _follow_up_check(actor, report)
    if not report.can_close:
        raise DomainError("Le signalement ne peut être clos qu'une fois qualifié et, si la violation est qualifiée, "
                          "une fois la décision de notification à la CNIL enregistrée.")
    report.closed_at = now()
    report.closed_by_id = actor.id
    audit.record("breach_closed", actor, target=report, reference=report.reference)
    db.session.flush()


# ---------------------------------------------------------------- reading


def visible_reports(actor: Account) -> list[BreachReport]:
    """The reports the actor sees (SPEC §7, §8): a partner user, its
    structure's; a caisse user, its caisse's; national, every one. Open ones first."""
    query = select(BreachReport)
    if actor.profile in PARTNER_PROFILES:
        query = query.where(BreachReport.partenaire_id == actor.partenaire_id)
    elif actor.profile in (Profile.AGENT, Profile.ADMIN_CAISSE):
        query = query.where(BreachReport.caisse_id == actor.caisse_id)
    elif actor.profile != Profile.ADMIN_NATIONAL:
        return []
    open_first = case((BreachReport.closed_at.is_(None), 0), else_=1)
    return list(db.session.scalars(query.order_by(open_first, BreachReport.created_at.desc(),
                                                  BreachReport.id.desc()).limit(500)))


def duration_text(delta: timedelta) -> str:
    """« 2 j 5 h », « 3 h 20 min », « 12 min »: a duration a reader takes in at a glance."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {mins:02d} min" if mins else f"{hours} h"
    return f"{mins} min"


@dataclass
class ClockView:
    """One deadline as the report page shows it."""

    title: str
    deadline: datetime | None
    state: str  # "sans_objet", "en_cours", "depasse", "respecte", "hors_delai"
    text: str

    @property
    def badge(self) -> str:
        return {"en_cours": "info", "respecte": "success", "depasse": "error", "hors_delai": "warning",
                "sans_objet": "info"}[self.state]

    @property
    def label(self) -> str:
        return {"en_cours": "en cours", "respecte": "respecté", "depasse": "dépassé", "hors_delai": "hors délai",
                "sans_objet": "sans objet"}[self.state]


def clocks(report: BreachReport, at: datetime | None = None) -> list[ClockView]:
    """The partner's 24 h (from the moment noticed; met by the report itself)
    and the caisse's 72 h (from its awareness; stopped by the CNIL decision
    or the closure), with the time left or the time overdue, read at ``at``
    (the injected clock) (SPEC §7)."""
    at = at or now()
    out = []
    if report.side == "partenaire":
        late = report.created_at - report.partner_deadline
        taken = duration_text(report.created_at - report.noticed_at)
        if late <= timedelta(0):
            out.append(ClockView("Délai de 24 h de la structure", report.partner_deadline, "respecte",
                                 f"Signalé {taken} après le constat : dans le délai de 24 h."))
        else:
            out.append(ClockView("Délai de 24 h de la structure", report.partner_deadline, "hors_delai",
                                 f"Signalé {taken} après le constat : {duration_text(late)} après le délai de 24 h."))
    else:
        out.append(ClockView("Délai de 24 h de la structure", None, "sans_objet",
                             "Signalé par la caisse ou le national : pas de délai pour une structure."))
    deadline = report.caisse_deadline
    stopped = report.caisse_clock_stopped_at
    title = "Délai de 72 h de la caisse (notification à la CNIL)"
    if stopped is not None:
        what = "Décision sur la notification à la CNIL" if report.cnil_decided_at else "Signalement clos"
        if stopped <= deadline:
            out.append(ClockView(title, deadline, "respecte", f"{what} le {_paris(stopped)} : dans le délai."))
        else:
            out.append(ClockView(title, deadline, "hors_delai",
                                 f"{what} le {_paris(stopped)} : {duration_text(stopped - deadline)} après le délai."))
    elif at <= deadline:
        out.append(ClockView(title, deadline, "en_cours", f"Il reste {duration_text(deadline - at)}."))
    else:
        out.append(ClockView(title, deadline, "depasse", f"Délai dépassé de {duration_text(at - deadline)}."))
    return out


def _paris(value: datetime) -> str:
    from ep_web.clock import to_paris

    return to_paris(value).strftime("%d/%m/%Y à %H:%M")
