"""Conventions between the caisse and a partner (SPEC §2): a new one after an
end, the services enabled, renewal, denunciation, end (SPEC §3 end of convention)."""
from flask import request, url_for

from ep_web.actions import run
from ep_web.caisse import actor, admin_required, bp, page
from ep_web.caisse.forms import ActionForm, ConventionForm, EndConventionForm, ServicesForm
from ep_web.caisse.partenaires import render_partenaire
from ep_web.clock import today
from ep_web.confirm import ask
from ep_web.domain.access import conventions_in_force
from ep_web.domain.conventions import create_convention, denounce, renew, set_services, terminate
from ep_web.permissions import get_partenaire_or_404
from ep_web.permissions.partenaires import get_partner_convention_or_404


def _conventions_of(p) -> str:
    return url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions")


@bp.route("/partenaires/<int:partenaire_id>/conventions/nouvelle", methods=["GET", "POST"])
@admin_required
def new_convention(partenaire_id: int):
    """A new convention with a partner the caisse already knows (after an end)."""
    p = get_partenaire_or_404(partenaire_id)
    form = ConventionForm()

    def render(status, refusal=None):
        return page("caisse/convention_new.html", status, form=form, partenaire=p)

    if request.method == "GET":
        form.signed_on.data = today()
        return render(200)
    return run(lambda: create_convention(actor(), p, **form.convention_data()), form=form, render=render,
               success="Convention enregistrée.", then=_conventions_of(p))


@bp.route("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/services", methods=["GET", "POST"])
@admin_required
def convention_services(partenaire_id: int, convention_id: int):
    p = get_partenaire_or_404(partenaire_id)
    conv = get_partner_convention_or_404(p, convention_id)
    form = ServicesForm() if request.method == "POST" else ServicesForm(data={"services": list(conv.services or [])})

    def render(status, refusal=None):
        return page("caisse/convention_services.html", status, form=form, partenaire=p, convention=conv)

    if request.method == "GET":
        return render(200)
    return run(lambda: set_services(actor(), conv, form.services.data or []), form=form, render=render,
               success="Services de la convention enregistrés.", then=_conventions_of(p))


def _on_convention(partenaire_id: int, convention_id: int, operation, success: str):
    """A one-button action on a convention; a refusal comes back on the partner's page."""
    p = get_partenaire_or_404(partenaire_id)
    conv = get_partner_convention_or_404(p, convention_id)
    return run(lambda: operation(actor(), conv), form=ActionForm(),
               render=lambda status, refusal: render_partenaire(p, status, refusal),
               success=lambda _: success.format(ends_on=conv.ends_on.strftime("%d/%m/%Y")),
               then=_conventions_of(p))


@bp.post("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/renouveler")
@admin_required
def renew_convention(partenaire_id: int, convention_id: int):
    return _on_convention(partenaire_id, convention_id, renew, "Convention renouvelée jusqu'au {ends_on}.")


@bp.post("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/denoncer")
@admin_required
def denounce_convention(partenaire_id: int, convention_id: int):
    p = get_partenaire_or_404(partenaire_id)
    conv = get_partner_convention_or_404(p, convention_id)
    if (question := ask(f"La convention ne sera pas reconduite : elle prendra fin le {conv.ends_on:%d/%m/%Y}.",
                        title=f"Dénoncer la convention avec {p.name}", button="Dénoncer la convention",
                        back=_conventions_of(p))) is not None:
        return question
    return _on_convention(partenaire_id, convention_id, denounce,
                          "Convention dénoncée : elle prendra fin le {ends_on}, sans reconduction.")


@bp.route("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/fin", methods=["GET", "POST"])
@admin_required
def end_convention(partenaire_id: int, convention_id: int):
    """SPEC §3 end of convention: with no other convention in force, every
    account of the partner is inactivated (the domain applies it)."""
    p = get_partenaire_or_404(partenaire_id)
    conv = get_partner_convention_or_404(p, convention_id)
    form = EndConventionForm()

    def render(status, refusal=None):
        return page("caisse/convention_end.html", status, form=form, partenaire=p, convention=conv,
                    other_conventions=[c for c in conventions_in_force(p.id) if c.id != conv.id])

    def ended(count: int) -> str:
        message = f"Convention {conv.state.label.lower()}."
        if count:
            message += f" La structure n'a plus de convention en cours : {count} compte(s) inactivé(s)."
        return message

    if request.method == "GET":
        return render(200)
    return run(lambda: terminate(actor(), conv, resiliation=form.mode.data == "resiliee",
                                 reason=(form.reason.data or "").strip()),
               form=form, render=render, success=ended, then=_conventions_of(p))
