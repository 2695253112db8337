"""Permissions in two layers: a coarse profile check on the route
(``profile_required``), then an object check once the object is loaded
(the ``get_<noun>_or_404`` loaders). An object outside the user's structure or
caisse is a 404: its existence is not revealed."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from ep_web.domain.conventions import caisse_knows
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Convention, GestionnaireRequest, HabilitationReview, Partenaire, Profile


def profile_required(*profiles: Profile):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.profile not in profiles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def can_view_partenaire(user: Account, partenaire: Partenaire) -> bool:
    if user.profile == Profile.ADMIN_CAISSE:
        return caisse_knows(user.caisse_id, partenaire.id)
    if user.profile.is_partner:
        return user.partenaire_id == partenaire.id
    return False


def get_partenaire_or_404(partenaire_id: int) -> Partenaire:
    partenaire = db.session.get(Partenaire, partenaire_id)
    if partenaire is None or not can_view_partenaire(current_user, partenaire):
        abort(404)
    return partenaire


def get_convention_or_404(convention_id: int) -> Convention:
    conv = db.session.get(Convention, convention_id)
    if conv is None or current_user.profile != Profile.ADMIN_CAISSE or conv.caisse_id != current_user.caisse_id:
        abort(404)
    return conv


def can_view_account(user: Account, account: Account) -> bool:
    if account.status == AccountStatus.DELETED:
        return False
    if user.profile == Profile.GESTIONNAIRE:
        return account.partenaire_id == user.partenaire_id and account.profile == Profile.TECHNICIEN
    if user.profile == Profile.ADMIN_CAISSE:
        if account.profile.is_partner:
            return caisse_knows(user.caisse_id, account.partenaire_id)
        return account.caisse_id == user.caisse_id
    if user.profile == Profile.ADMIN_NATIONAL:
        return account.profile == Profile.ADMIN_CAISSE
    return False


def get_account_or_404(account_id: int, profile: Profile | None = None) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or not can_view_account(current_user, account):
        abort(404)
    if profile is not None and account.profile != profile:
        abort(404)
    return account


def get_request_or_404(request_id: int) -> GestionnaireRequest:
    req = db.session.get(GestionnaireRequest, request_id)
    if req is None:
        abort(404)
    if current_user.profile == Profile.ADMIN_CAISSE and req.caisse_id == current_user.caisse_id:
        return req
    if current_user.profile == Profile.GESTIONNAIRE and req.partenaire_id == current_user.partenaire_id:
        return req
    abort(404)


def get_review_or_404(review_id: int) -> HabilitationReview:
    review = db.session.get(HabilitationReview, review_id)
    if review is None:
        abort(404)
    if current_user.profile == Profile.ADMIN_CAISSE and review.caisse_id == current_user.caisse_id:
        return review
    if current_user.profile == Profile.GESTIONNAIRE and review.partenaire_id == current_user.partenaire_id:
        return review
    abort(404)
