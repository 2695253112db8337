"""The partners' gestionnaire requests at the caisse (SPEC §3 [2.2.1-2.2.3]):
the queue with its 5-working-day deadlines, then accept (the caisse may correct
the partner's data) or refuse with a reason."""
from flask import url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.auth.reauth import recent_auth_required
from ep_web.caisse import actor, admin_required, bp, page
from ep_web.caisse.forms import ActionForm, GestionnaireForm, RefuseForm
from ep_web.clock import today
from ep_web.confirm import ask
from ep_web.domain import quotas
from ep_web.domain.access import caisse_in_force
from ep_web.domain.accounts import IDENTITY_FIELDS
from ep_web.domain.lifecycle import DEPARTURE_WAITING
from ep_web.domain.requests import accept_request, handled_by_caisse, pending_for_caisse, refuse_request
from ep_web.models import Account, GestionnaireRequest, RequestKind
from ep_web.permissions import get_request_or_404


@bp.get("/demandes")
@admin_required
def requests():
    return page("caisse/requests.html", pending=pending_for_caisse(current_user.caisse_id),
                handled=handled_by_caisse(current_user.caisse_id), on=today())


def _render_request(req: GestionnaireRequest, form=None, refuse_form=None, status: int = 200):
    if form is None:
        form = (GestionnaireForm(prefix="g", formdata=None, data=req.payload or {}) if req.kind.needs_identity
                else ActionForm(formdata=None))
    current = {k: getattr(req.target, k) for k in IDENTITY_FIELDS} if req.target is not None else {}
    return page(
        "caisse/request.html", status, req=req, form=form,
        refuse_form=refuse_form or RefuseForm(prefix="r", formdata=None),
        current=current, seats=quotas.seats(req.partenaire), on=today(),
        in_force=caisse_in_force(req.caisse_id, req.partenaire_id),
    )


@bp.get("/demandes/<int:request_id>")
@admin_required
def request_detail(request_id: int):
    return _render_request(get_request_or_404(request_id))


def _accepted(req: GestionnaireRequest, account: Account) -> str:
    if req.kind == RequestKind.CREATION:
        message = (f"Compte gestionnaire créé pour {account.full_name} (identifiant {account.login}) : "
                   f"un e-mail d'activation est envoyé à {account.email}.")
    elif req.kind == RequestKind.MODIFICATION:
        message = f"Compte de {account.full_name} modifié."
    elif account.is_inactive:
        message = f"Le compte de {account.full_name} est inactivé."
    elif account.departure_waiting_since:
        message = f"Inactivation de {account.full_name} en attente : {DEPARTURE_WAITING}."
    else:
        message = (f"Inactivation de {account.full_name} programmée le "
                   f"{account.scheduled_inactivation_on.strftime('%d/%m/%Y')}.")
    return message + " Le partenaire est prévenu par e-mail."


@bp.post("/demandes/<int:request_id>/accepter")
@admin_required
@recent_auth_required
def accept(request_id: int):
    """Carry the request out (the caisse may correct the partner's data)."""
    req = get_request_or_404(request_id)
    identity = req.kind.needs_identity
    form = GestionnaireForm(prefix="g") if identity else ActionForm()
    return run(lambda: accept_request(actor(), req, form.identity() if identity else None), form=form,
               render=lambda status, refusal: _render_request(req, form=form, status=status),
               success=lambda account: _accepted(req, account), then=url_for("caisse.requests"))


@bp.post("/demandes/<int:request_id>/refuser")
@admin_required
def refuse(request_id: int):
    req = get_request_or_404(request_id)
    refuse_form = RefuseForm(prefix="r")
    if (refuse_form.response.data or "").strip() and (question := ask(
            "La demande sera refusée et le partenaire prévenu par e-mail, avec le motif.",
            title="Refuser la demande du partenaire", button="Refuser la demande",
            back=url_for("caisse.request_detail", request_id=req.id),
            summary=[("Motif du refus", refuse_form.response.data)])) is not None:
        return question
    return run(lambda: refuse_request(actor(), req, refuse_form.response.data or ""), form=refuse_form,
               render=lambda status, refusal: _render_request(req, refuse_form=refuse_form, status=status),
               success="Demande refusée : le partenaire est prévenu par e-mail, avec le motif.",
               then=url_for("caisse.requests"))
