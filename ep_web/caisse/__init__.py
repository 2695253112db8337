"""The référent partenariat (admin_caisse) area: partners, conventions, partner
and agent accounts, the partners' gestionnaire requests, suspension and review
campaigns, the audit log — one blueprint, one module per subject.

Every route: load and authorize (ep_web.permissions: an object outside the
caisse is a 404) → hand one domain call to ep_web.actions.run, which commits
once and answers 303 (or an htmx fragment), 422 with the message next to its
field and everything typed kept, or 403 with the domain's message when the
caisse may not act (e.g. its convention has ended).

A page with a single form shows a refusal that belongs to no field at the top of
that form (the runner put it there). The partner's page, whose sub-forms may be
gone by then (convention ended, campaign opened meanwhile), announces it in
#flash and writes it at the top of its form when the form is still there."""
from flask import Blueprint, make_response, render_template
from flask_login import current_user

from ep_web.models import Account, Profile
from ep_web.permissions import profile_required

bp = Blueprint("caisse", __name__, url_prefix="/caisse")

admin_required = profile_required(Profile.ADMIN_CAISSE)


def actor() -> Account:
    return current_user._get_current_object()


def page(template: str, status: int = 200, **context):
    return make_response(render_template(template, **context), status)


# The routes register themselves on bp.
from ep_web.caisse import comptes, conventions, demandes, dpo, journal, partenaires, revues  # noqa: E402,F401
