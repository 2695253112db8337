"""Dysfunction tickets (SPEC §5 [3.2]): a partner user reports a problem with
the portal to the referent of one of its structure's caisses; the referent
answers, or escalates in one step to national support, who answers.

Who sees what (SPEC §8):
- partner users (technicien and gestionnaire) see every ticket of their own
  structure, colleagues' included: a ticket is about the portal, not about an
  insured person, and seeing what colleagues already reported avoids duplicates
  (the structure's gestionnaires are e-mailed every answer anyway);
- ``admin_caisse`` sees the tickets addressed to its caisse, never another's;
- ``admin_national`` sees only tickets that were escalated (every caisse).

Every text typed into a ticket, by either side, passes the NIR guard and the
health-data warning. E-mails carry the reference and a link only.
"""
import secrets
from datetime import datetime

from sqlalchemy import select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain.access import conventions_in_force
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.textguard import check_partner_text
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import Account, AccountStatus, Attachment, Caisse, Profile, Ticket, TicketMessage, TicketStatus
from ep_web.permissions.tickets import PARTNER_PROFILES, ticket_side

SUBJECT_MAX = 200
TEXT_MAX = 5000
PAGE_DETAIL_MAX = 150

# The portal's areas, for "page or service concerned".
PORTAL_AREAS = {
    "connexion": "Connexion, mot de passe, activation du compte",
    "accueil": "Page d'accueil",
    "demandes": "Demandes à la caisse (signalement, dossier, document, rendez-vous)",
    "comptes": "Gestion des comptes techniciens",
    "habilitations": "Habilitations",
    "actualites": "Actualités",
    "tickets": "Signalement d'un problème",
    "autre": "Autre page ou service",
}

OPEN_STATUSES = (TicketStatus.OUVERT, TicketStatus.EN_COURS, TicketStatus.ESCALADE)


# ---------------------------------------------------------------- visibility

def _listing(where, status: TicketStatus | None) -> list[Ticket]:
    q = select(Ticket).where(*where)
    if status is not None:
        q = q.where(Ticket.status == status)
    return list(db.session.scalars(q.order_by(Ticket.updated_at.desc(), Ticket.id.desc())))


def tickets_for_partner(partenaire_id: int, status: TicketStatus | None = None) -> list[Ticket]:
    """SPEC §5: the structure's tickets (the partner follows their status)."""
    return _listing([Ticket.partenaire_id == partenaire_id], status)


def tickets_for_caisse(caisse_id: int, status: TicketStatus | None = None) -> list[Ticket]:
    """SPEC §5: the tickets addressed to the caisse's referent."""
    return _listing([Ticket.caisse_id == caisse_id], status)


def escalated_tickets(status: TicketStatus | None = None) -> list[Ticket]:
    """SPEC §5: the tickets escalated to national support."""
    return _listing([Ticket.escalated_at.is_not(None)], status)


def ticket_caisses(partenaire_id: int) -> list[Caisse]:
    """SPEC §5: the caisses a structure may report to: those with a convention in force."""
    caisses = {c.caisse_id: c.caisse for c in conventions_in_force(partenaire_id)}
    return sorted(caisses.values(), key=lambda c: c.name)


def page_label(area: str, detail: str = "") -> str:
    """SPEC §5: the page concerned by a ticket, as shown."""
    label = PORTAL_AREAS.get(area, area)
    detail = (detail or "").strip()
    return f"{label} — {detail}" if detail else label


# ---------------------------------------------------------------- notifications

def _partner_recipients(ticket: Ticket) -> list[Account]:
    """The author and the structure's active gestionnaires (each once)."""
    out: dict[int, Account] = {}
    if ticket.author is not None and ticket.author.status == AccountStatus.ACTIVE and ticket.author.email:
        out[ticket.author.id] = ticket.author
    for g in db.session.scalars(
        select(Account).where(Account.partenaire_id == ticket.partenaire_id, Account.profile == Profile.GESTIONNAIRE,
                              Account.status == AccountStatus.ACTIVE).order_by(Account.id)
    ):
        if g.email:
            out.setdefault(g.id, g)
    return list(out.values())


def _notify_partner(ticket: Ticket, template: str, subject: str, **ctx) -> None:
    """SPEC §5/§6: the author and the structure's gestionnaires, in the portal
    and by e-mail as each chose."""
    from ep_web.domain import notifications as notif
    from ep_web.models import NotificationKind

    for recipient in _partner_recipients(ticket):
        notif.notify(recipient, NotificationKind.TICKET, "ticket", f"Problème signalé {ticket.reference} : {subject}",
                     f"/tickets/{ticket.id}",
                     email=(template, f"{subject} ({ticket.reference})", {"ticket": ticket, **ctx}))


def _national_recipients() -> list[str]:
    return list(db.session.scalars(
        select(Account.email).where(Account.profile == Profile.ADMIN_NATIONAL, Account.status == AccountStatus.ACTIVE,
                                    Account.email != "").order_by(Account.id)
    ))


def _notify_support(ticket: Ticket, template: str, subject: str) -> None:
    """The caisse's referent mailbox, or national support once escalated."""
    if ticket.status == TicketStatus.ESCALADE:
        for email in _national_recipients():
            queue_email(email, template, f"{subject} ({ticket.reference})", ticket=ticket, side="national")
    elif ticket.caisse.referent_email:
        queue_email(ticket.caisse.referent_email, template, f"{subject} ({ticket.reference})", ticket=ticket,
                    side="caisse")


# ---------------------------------------------------------------- operations

def _check_text(text: str, field: str, health_confirmed: bool) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError("Ce champ est obligatoire.", field)
    if len(text) > TEXT_MAX:
        raise DomainError(f"{TEXT_MAX} caractères au plus.", field)
    check_partner_text({}, free_texts={field: text}, health_confirmed=health_confirmed)
    return text


def _touch(ticket: Ticket, at: datetime) -> None:
    ticket.updated_at = at


def open_ticket(actor: Account, *, caisse_id: int, subject: str, description: str, area: str, page_detail: str = "",
                health_confirmed: bool = False, screenshots=()) -> Ticket:
    """SPEC §5: any partner user reports a dysfunction to the referent of one of
    its structure's caisses (convention in force): subject, description, page or
    service concerned, optional screenshot (PNG or JPEG, checked like every
    attachment). Subject, page and description pass the NIR guard; the
    description the health warning. The caisse's referent mailbox is e-mailed."""
    if actor.profile not in PARTNER_PROFILES or actor.partenaire_id is None:
        raise NotAllowed("Seuls les utilisateurs des structures partenaires signalent un problème à leur caisse.")
    caisses = {c.id: c for c in ticket_caisses(actor.partenaire_id)}
    if caisse_id not in caisses:
        raise DomainError("Choisissez une caisse avec laquelle votre structure a une convention en cours.", "caisse_id")
    subject = (subject or "").strip()
    if not subject:
        raise DomainError("Indiquez l'objet du problème.", "subject")
    if len(subject) > SUBJECT_MAX:
        raise DomainError(f"L'objet ne peut pas dépasser {SUBJECT_MAX} caractères.", "subject")
    if area not in PORTAL_AREAS:
        raise DomainError("Choisissez la page ou le service concerné.", "area")
    page_detail = (page_detail or "").strip()
    if len(page_detail) > PAGE_DETAIL_MAX:
        raise DomainError(f"{PAGE_DETAIL_MAX} caractères au plus.", "page_detail")
    description = (description or "").strip()
    if not description:
        raise DomainError("Décrivez le problème.", "description")
    if len(description) > TEXT_MAX:
        raise DomainError(f"La description ne peut pas dépasser {TEXT_MAX} caractères.", "description")
    check_partner_text({"subject": subject, "page_detail": page_detail}, free_texts={"description": description},
                       health_confirmed=health_confirmed)
    prepared = _prepare_screenshots(screenshots)

    at = now()
    # The readable reference is built from the row id, unique without a lock or
    # a counter table: T-<year>-<id on 5 digits>.
    ticket = Ticket(reference=f"tmp-{secrets.token_hex(8)}", caisse_id=caisse_id, partenaire_id=actor.partenaire_id,
                    author_id=actor.id, subject=subject, description=description, page=page_label(area, page_detail),
                    health_confirmed=bool(health_confirmed), status=TicketStatus.OUVERT, created_at=at, updated_at=at)
    db.session.add(ticket)
    db.session.flush()
    ticket.reference = f"T-{today().year}-{ticket.id:05d}"
    if prepared:
        from ep_web.domain.attachments import store

        for item in prepared:
            store(item, uploader=actor, ticket=ticket)
    db.session.flush()
    _notify_support(ticket, "ticket_opened", "Nouveau signalement de dysfonctionnement")
    return ticket


def _prepare_screenshots(files) -> list:
    """SPEC §5: one optional screenshot, PNG or JPEG, checked like every attachment
    (size, real type, antivirus) by ep_web.domain.attachments."""
    files = [f for f in (files or []) if f is not None and getattr(f, "filename", "")]
    if not files:
        return []
    if len(files) > 1:
        raise DomainError("Joignez une seule capture d'écran.", "screenshot")
    from ep_web.domain.attachments import validate_uploads

    return validate_uploads(files, 0, allowed=("jpeg", "png"), field="screenshot")


def reply(actor: Account, ticket: Ticket, body: str, *, health_confirmed: bool = False,
          resolve: bool = False) -> TicketMessage:
    """SPEC §5: a message in the ticket's thread.
    - The partner adds information while the ticket is not resolved; the caisse's
      referent (or national support once escalated) is e-mailed.
    - The caisse's referent answers; an open ticket becomes "en cours". National
      support answers escalated tickets. The author and the structure's active
      gestionnaires are e-mailed each answer (reference and link only).
    - ``resolve``: the answer also closes the ticket (the caisse for its
      non-escalated tickets, national support for escalated ones).
    Every answer passes the NIR guard and the health warning, like the partner's texts."""
    side = ticket_side(actor, ticket)
    if side is None:
        raise NotAllowed("Ce ticket n'est pas visible pour votre compte.")
    if ticket.status == TicketStatus.RESOLU:
        raise DomainError("Ce ticket est résolu : ouvrez un nouveau ticket si le problème persiste.", "body")
    if resolve:
        _check_can_resolve(side, ticket)
    body = _check_text(body, "body", health_confirmed)
    at = now()
    message = TicketMessage(ticket_id=ticket.id, author_id=actor.id, body=body, created_at=at)
    db.session.add(message)
    _touch(ticket, at)
    if side == "partner":
        db.session.flush()
        _notify_support(ticket, "ticket_partner_reply", "Nouveau message du partenaire")
        return message
    if ticket.status == TicketStatus.OUVERT:
        ticket.status = TicketStatus.EN_COURS
    if resolve:
        ticket.status = TicketStatus.RESOLU
        ticket.resolved_at = at
    db.session.flush()
    _notify_partner(ticket, "ticket_answered",
                    "Réponse à votre signalement" + (" : problème résolu" if resolve else ""),
                    resolved=resolve, from_national=side == "national")
    return message


def _check_can_resolve(side: str, ticket: Ticket) -> None:
    if side == "caisse" and ticket.status == TicketStatus.ESCALADE:
        raise DomainError("Ce ticket est escaladé : c'est le support national qui le résout.")
    if side == "partner":
        raise NotAllowed("Seule la caisse ou le support national résout un ticket.")


def take(actor: Account, ticket: Ticket) -> None:
    """SPEC §5: the caisse's referent takes an open ticket ("en cours")."""
    if ticket_side(actor, ticket) != "caisse":
        raise NotAllowed("Action réservée au référent de la caisse destinataire.")
    if ticket.status != TicketStatus.OUVERT:
        raise DomainError("Seul un ticket ouvert peut être pris en charge.")
    ticket.status = TicketStatus.EN_COURS
    _touch(ticket, now())
    db.session.flush()


def resolve(actor: Account, ticket: Ticket) -> None:
    """SPEC §5: the caisse's referent resolves its non-escalated tickets; national
    support resolves escalated ones. The partner is e-mailed."""
    side = ticket_side(actor, ticket)
    if side not in ("caisse", "national"):
        raise NotAllowed("Action réservée à la caisse destinataire ou au support national.")
    if ticket.status == TicketStatus.RESOLU:
        raise DomainError("Ce ticket est déjà résolu.")
    _check_can_resolve(side, ticket)
    at = now()
    ticket.status = TicketStatus.RESOLU
    ticket.resolved_at = at
    _touch(ticket, at)
    db.session.flush()
    _notify_partner(ticket, "ticket_answered", "Votre signalement est résolu", resolved=True,
                    from_national=side == "national", status_only=True)


def escalate(actor: Account, ticket: Ticket) -> None:
    """SPEC §5: in one step, the caisse's referent passes an open or in-progress
    ticket to national support, who is e-mailed and sees it from then on."""
    if ticket_side(actor, ticket) != "caisse":
        raise NotAllowed("Action réservée au référent de la caisse destinataire.")
    if ticket.status not in (TicketStatus.OUVERT, TicketStatus.EN_COURS):
        raise DomainError("Seul un ticket ouvert ou en cours peut être escaladé.")
    at = now()
    ticket.status = TicketStatus.ESCALADE
    ticket.escalated_at = at
    _touch(ticket, at)
    db.session.flush()
    _notify_support(ticket, "ticket_escalated", "Ticket escaladé au support national")


def record_screenshot_download(actor: Account, ticket: Ticket, attachment: Attachment) -> None:
    """SPEC §7: every document download is audited — a ticket's screenshot too.
    The caller has checked that the actor sees the ticket and that the file
    belongs to it."""
    if ticket_side(actor, ticket) is None or attachment.ticket_id != ticket.id:
        raise NotAllowed("Ce fichier n'est pas visible pour votre compte.")
    audit.record("document_downloaded", actor, target=attachment, caisse_id=ticket.caisse_id,
                 partenaire_id=ticket.partenaire_id, ticket=ticket.reference)
