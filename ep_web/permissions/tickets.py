"""Who sees a dysfunction ticket, and from which side (SPEC §5, §8)."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import Account, Attachment, Profile, Ticket

PARTNER_PROFILES = (Profile.TECHNICIEN, Profile.GESTIONNAIRE)


def ticket_side(account: Account, ticket: Ticket) -> str | None:
    """'partner', 'caisse' or 'national' when the account may see the ticket, else
    None: the partner's users, the caisse's referent, national once escalated."""
    if account.profile in PARTNER_PROFILES and account.partenaire_id == ticket.partenaire_id:
        return "partner"
    if account.profile == Profile.ADMIN_CAISSE and account.caisse_id == ticket.caisse_id:
        return "caisse"
    if account.profile == Profile.ADMIN_NATIONAL and ticket.escalated_at is not None:
        return "national"
    return None


def can_view_ticket(account: Account, ticket: Ticket) -> bool:
    return ticket_side(account, ticket) is not None


def get_ticket_or_404(ticket_id: int, side: str) -> Ticket:
    """The ticket seen from that side (a partner's ticket is not the caisse page's)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or ticket_side(current_user, ticket) != side:
        abort(404)
    return ticket


def get_screenshot_or_404(ticket: Ticket, attachment_id: int) -> Attachment:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.ticket_id != ticket.id:
        abort(404)
    return attachment
