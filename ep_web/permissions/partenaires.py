"""Who sees and manages partners, conventions, accounts, gestionnaire
requests and habilitation reviews (SPEC §3, §8)."""
from flask import abort
from flask_login import current_user

from ep_web.domain.access import caisse_in_force, caisse_knows
from ep_web.extensions import db
from ep_web.models import (
    Account,
    AccountStatus,
    Convention,
    GestionnaireRequest,
    HabilitationReview,
    Partenaire,
    Profile,
)


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


def can_manage_account(actor: Account, account: Account) -> bool:
    """A gestionnaire manages its partner's techniciens; an admin_caisse manages the
    accounts of partners it has a convention in force with, and its caisse's agents."""
    if account.status == AccountStatus.DELETED or account.id == actor.id:
        return False
    if actor.profile == Profile.GESTIONNAIRE:
        return account.profile == Profile.TECHNICIEN and account.partenaire_id == actor.partenaire_id
    if actor.profile == Profile.ADMIN_CAISSE:
        if account.profile.is_partner:
            return caisse_in_force(actor.caisse_id, account.partenaire_id)
        return account.caisse_id == actor.caisse_id and account.profile == Profile.AGENT
    if actor.profile == Profile.ADMIN_NATIONAL:
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
