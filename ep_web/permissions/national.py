"""What national support reaches (SPEC §1 admin_national, §8): every caisse,
each caisse's référents (admin_caisse accounts) and the e-mails of the outbox."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import Account, Caisse, OutboxEmail, Profile
from ep_web.permissions.partenaires import get_account_or_404


def can_manage_caisse(user: Account, caisse: Caisse) -> bool:
    """SPEC §1: national creates the caisses and keeps their settings."""
    return user.profile == Profile.ADMIN_NATIONAL


def get_caisse_or_404(caisse_id: int) -> Caisse:
    caisse = db.session.get(Caisse, caisse_id)
    if caisse is None or not can_manage_caisse(current_user, caisse):
        abort(404)
    return caisse


def get_referent_or_404(caisse: Caisse, account_id: int) -> Account:
    """A référent of that caisse: another caisse's, or any other profile, is a 404."""
    account = get_account_or_404(account_id, Profile.ADMIN_CAISSE)
    if account.caisse_id != caisse.id:
        abort(404)
    return account


def get_outbox_email_or_404(email_id: int) -> OutboxEmail:
    """The outbox is national support's to watch (the jobs page), no one else's."""
    email = db.session.get(OutboxEmail, email_id)
    if email is None or current_user.profile != Profile.ADMIN_NATIONAL:
        abort(404)
    return email
