"""Who resets whose second factor (SPEC §3, lost phone)."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import Account, Profile
from ep_web.permissions.partenaires import can_manage_account, can_view_account

# The manager's profile for each profile whose factor can be reset.
RESET_BY = {
    Profile.TECHNICIEN: Profile.GESTIONNAIRE,
    Profile.GESTIONNAIRE: Profile.ADMIN_CAISSE,
    Profile.AGENT: Profile.ADMIN_CAISSE,
    Profile.ADMIN_CAISSE: Profile.ADMIN_NATIONAL,
}


def can_reset_second_factor(actor: Account, account: Account) -> bool:
    """SPEC §3: the account's manager — a gestionnaire of the partner for a
    technicien, the admin_caisse for a gestionnaire (convention in force) or an
    agent of the caisse, admin_national for an admin_caisse."""
    return RESET_BY.get(account.profile) == actor.profile and can_manage_account(actor, account)


def get_second_factor_account_or_404(account_id: int) -> Account:
    """The account whose factor the current user may reset; 404 when it is not
    even visible to them, 403 when visible but not theirs to reset."""
    account = db.session.get(Account, account_id)
    if account is None or not can_view_account(current_user, account):
        abort(404)
    if not can_reset_second_factor(current_user, account):
        abort(403)
    return account
