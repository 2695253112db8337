"""Accounts managed by the caisse (SPEC §3): the partner's gestionnaires
(creation, changes, leaving date), immediate inactivation of a partner account
(fraud, loss, theft), activation links, and the caisse's own agents.

A line of the habilitation table or of the agents' table is swapped alone by
htmx after an action on it (with the quotas, out of band)."""
from flask import request, url_for
from flask_login import current_user

from ep_web.actions import first_error, run
from ep_web.auth.reauth import recent_auth_required
from ep_web.caisse import actor, admin_required, bp, page
from ep_web.caisse.forms import ActionForm, AgentForm, GestionnaireForm, ReasonForm, ScheduleForm
from ep_web.caisse.partenaires import render_partenaire
from ep_web.confirm import is_confirmed
from ep_web.domain import quotas
from ep_web.domain.access import caisse_in_force
from ep_web.domain.accounts import (
    IDENTITY_FIELDS,
    agents_of,
    create_caisse_account,
    create_gestionnaire,
    inactivate,
    modify_gestionnaire,
    resend_activation,
    schedule_gestionnaire_inactivation,
)
from ep_web.domain.habilitations import row_for
from ep_web.domain.lifecycle import DEPARTURE_WAITING
from ep_web.htmx import is_partial, render_fragments
from ep_web.models import Account, Partenaire, Profile
from ep_web.permissions import get_account_or_404, get_partenaire_or_404
from ep_web.permissions.partenaires import get_partner_account_or_404


def _accounts_of(p: Partenaire) -> str:
    return url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes")


def _created(account: Account) -> str:
    noun = "gestionnaire" if account.profile == Profile.GESTIONNAIRE else "agent"
    return (f"Compte {noun} créé pour {account.full_name} (identifiant {account.login}) : "
            f"un e-mail d'activation est envoyé à {account.email}.")


# ---------------------------------------------------------------- gestionnaires

@bp.post("/partenaires/<int:partenaire_id>/gestionnaires")
@admin_required
@recent_auth_required
def create_gestionnaire_account(partenaire_id: int):
    """SPEC §3: the caisse creates a gestionnaire, within quota; the activation
    e-mail leaves after the commit."""
    p = get_partenaire_or_404(partenaire_id)
    form = GestionnaireForm(prefix="g")
    # No anchor: htmx follows `then` with HX-Redirect, and a change of anchor alone
    # would not reload the page it comes from.
    return run(lambda: create_gestionnaire(actor(), p, form.identity()), form=form,
               render=lambda status, refusal: render_partenaire(p, status, refusal, gestionnaire_form=form),
               success=_created, then=url_for("caisse.partenaire", partenaire_id=p.id))


def _identity_of(account: Account) -> dict:
    return {k: getattr(account, k) for k in IDENTITY_FIELDS}


def _gestionnaire_page(p: Partenaire, account: Account, form, schedule_form, status: int = 200):
    return page("caisse/gestionnaire.html", status, partenaire=p, account=account, form=form,
                schedule_form=schedule_form, in_force=caisse_in_force(current_user.caisse_id, p.id))


@bp.route("/partenaires/<int:partenaire_id>/gestionnaires/<int:account_id>", methods=["GET", "POST"])
@admin_required
@recent_auth_required
def gestionnaire(partenaire_id: int, account_id: int):
    """SPEC §3 [2.2.2]: only the caisse modifies a gestionnaire's data."""
    p = get_partenaire_or_404(partenaire_id)
    account = get_partner_account_or_404(p, account_id, Profile.GESTIONNAIRE)
    form = GestionnaireForm(prefix="g") if request.method == "POST" else GestionnaireForm(
        prefix="g", data=_identity_of(account))
    schedule_form = ScheduleForm(prefix="s", formdata=None, data={"on": account.scheduled_inactivation_on})
    if request.method == "GET":
        return _gestionnaire_page(p, account, form, schedule_form)
    return run(lambda: modify_gestionnaire(actor(), account, form.identity()), form=form,
               render=lambda status, refusal: _gestionnaire_page(p, account, form, schedule_form, status),
               success=lambda changed: "Compte gestionnaire modifié." if changed else "Aucune modification.",
               then=_accounts_of(p))


def _leaving(account: Account) -> str:
    if account.is_inactive:
        return f"Le compte de {account.full_name} est inactivé."
    if account.departure_waiting_since:
        return f"Inactivation de {account.full_name} en attente : {DEPARTURE_WAITING}."
    return (f"Inactivation de {account.full_name} programmée le "
            f"{account.scheduled_inactivation_on.strftime('%d/%m/%Y')}.")


@bp.post("/partenaires/<int:partenaire_id>/gestionnaires/<int:account_id>/inactivation-programmee")
@admin_required
@recent_auth_required
def schedule_inactivation(partenaire_id: int, account_id: int):
    """SPEC §3 [2.2.3]: the caisse inactivates a leaving gestionnaire on a date."""
    p = get_partenaire_or_404(partenaire_id)
    account = get_partner_account_or_404(p, account_id, Profile.GESTIONNAIRE)
    form = GestionnaireForm(prefix="g", formdata=None, data=_identity_of(account))
    schedule_form = ScheduleForm(prefix="s")
    return run(lambda: schedule_gestionnaire_inactivation(actor(), account, schedule_form.on.data),
               form=schedule_form,
               render=lambda status, refusal: _gestionnaire_page(p, account, form, schedule_form, status),
               success=lambda _: _leaving(account), then=_accounts_of(p))


# ---------------------------------------------------------------- any partner account

def _account_row(p: Partenaire, account: Account, status: int = 200, notice: str | None = None,
                 error: dict | None = None):
    """The account's line of the habilitation table, and the quotas out of band."""
    ctx = {"partenaire": p, "row": row_for(account), "in_force": caisse_in_force(current_user.caisse_id, p.id),
           "seats": quotas.seats(p), "notice": notice, "row_errors": {account.id: error} if error else {}}
    return render_fragments(("caisse/_account_row.html", ctx), ("caisse/_quotas.html", {**ctx, "oob": True}),
                            status=status)


def _inactivation_page(account: Account, form, back: str, partenaire: Partenaire | None = None, status: int = 200):
    return page("caisse/account_inactivate.html", status, form=form, partenaire=partenaire, account=account,
                back=back)


@bp.route("/partenaires/<int:partenaire_id>/comptes/<int:account_id>/inactiver", methods=["GET", "POST"])
@admin_required
@recent_auth_required
def inactivate_account(partenaire_id: int, account_id: int):
    """SPEC §3 [4.1]: the caisse inactivates a partner account at once (fraud,
    loss, theft), with a reason; its sessions end; gestionnaires are notified."""
    p = get_partenaire_or_404(partenaire_id)
    account = get_partner_account_or_404(p, account_id)
    form = ReasonForm()
    back = _accounts_of(p)
    if request.method == "GET":
        return _inactivation_page(account, form, back, p)

    def render(status, refusal):
        if is_partial():
            return _account_row(p, account, status, error={"message": first_error(form), "reason": form.reason.data})
        return _inactivation_page(account, form, back, p, status)

    # Without the JS dialog's flag, the row's one-click form leads to the
    # inactivation page (which is the confirmation step), the reason kept.
    if not is_confirmed() and not is_partial() and form.validate_on_submit() and (form.reason.data or "").strip():
        return _inactivation_page(account, form, back, p)
    return run(lambda: inactivate(account, actor=actor(), reason=form.reason.data or ""), form=form, render=render,
               success=f"Le compte de {account.full_name} est inactivé.", then=back,
               fragment=lambda _, message: _account_row(p, account, notice="Compte inactivé."))


@bp.post("/partenaires/<int:partenaire_id>/comptes/<int:account_id>/lien-activation")
@admin_required
def resend_partner_activation(partenaire_id: int, account_id: int):
    p = get_partenaire_or_404(partenaire_id)
    account = get_partner_account_or_404(p, account_id)
    form = ActionForm()

    def render(status, refusal):
        if is_partial():
            return _account_row(p, account, status, error={"message": first_error(form), "reason": ""})
        return render_partenaire(p, status, refusal)

    return run(lambda: resend_activation(actor(), account), form=form, render=render,
               success=f"Un nouveau lien d'activation est envoyé à {account.email}.", then=_accounts_of(p),
               fragment=lambda _, message: _account_row(p, account,
                                                        notice=f"Lien d'activation renvoyé à {account.email}."))


# ---------------------------------------------------------------- agents

def _agents_page(form, status: int = 200, refusal: str | None = None):
    """``refusal``: an action on a line refused, shown in #flash (the creation
    form shows its own refusals)."""
    return page("caisse/agents.html", status, agents=agents_of(current_user.caisse_id), form=form, row_errors={},
                refusal=refusal)


@bp.route("/agents", methods=["GET", "POST"])
@admin_required
@recent_auth_required
def agents():
    form = AgentForm(prefix="a")
    if request.method == "GET":
        return _agents_page(form)
    return run(lambda: create_caisse_account(actor(), current_user.caisse, Profile.AGENT, form.identity()),
               form=form, render=lambda status, refusal: _agents_page(form, status),
               success=_created, then=url_for("caisse.agents"))


def _agent_row(account: Account, status: int = 200, notice: str | None = None, error: dict | None = None):
    ctx = {"agent": account, "notice": notice, "row_errors": {account.id: error} if error else {}}
    return render_fragments(("caisse/_agent_row.html", ctx), status=status)


@bp.route("/agents/<int:account_id>/inactiver", methods=["GET", "POST"])
@admin_required
@recent_auth_required
def inactivate_agent(account_id: int):
    account = get_account_or_404(account_id, Profile.AGENT)
    form = ReasonForm()
    back = url_for("caisse.agents")
    if request.method == "GET":
        return _inactivation_page(account, form, back)

    def render(status, refusal):
        if is_partial():
            return _agent_row(account, status, error={"message": first_error(form), "reason": form.reason.data})
        return _inactivation_page(account, form, back, status=status)

    # Without the JS dialog's flag, the row's one-click form leads to the
    # inactivation page (the confirmation step), the reason kept.
    if not is_confirmed() and not is_partial() and form.validate_on_submit() and (form.reason.data or "").strip():
        return _inactivation_page(account, form, back)
    return run(lambda: inactivate(account, actor=actor(), reason=form.reason.data or ""), form=form, render=render,
               success=f"Le compte de {account.full_name} est inactivé.", then=back,
               fragment=lambda _, message: _agent_row(account, notice="Compte inactivé."))


@bp.post("/agents/<int:account_id>/lien-activation")
@admin_required
def resend_agent_activation(account_id: int):
    account = get_account_or_404(account_id, Profile.AGENT)
    form = ActionForm()

    def render(status, refusal):
        if is_partial():
            return _agent_row(account, status, error={"message": first_error(form), "reason": ""})
        return _agents_page(AgentForm(prefix="a", formdata=None), status, refusal)

    return run(lambda: resend_activation(actor(), account), form=form, render=render,
               success=f"Un nouveau lien d'activation est envoyé à {account.email}.", then=url_for("caisse.agents"),
               fragment=lambda _, message: _agent_row(account, notice=f"Lien d'activation renvoyé à {account.email}."))
