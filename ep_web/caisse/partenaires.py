"""The caisse's partners (SPEC §2): the list with its quotas, a new partner with
its first convention, the partner's page and the edition of its file.

The partner's page carries three sub-forms (new gestionnaire, review campaign,
suspension), each in its own region: htmx swaps only the region that came back
with an error; without JavaScript the whole page comes back."""
from datetime import timedelta

from flask import request, url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.caisse import actor, admin_required, bp, page
from ep_web.caisse.forms import FilterForm, GestionnaireForm, NewPartenaireForm, PartenaireForm, ReasonForm, ReviewForm
from ep_web.clock import today
from ep_web.domain import partenaires as domain
from ep_web.domain import quotas, reviews
from ep_web.domain.access import caisse_in_force, conventions_in_force
from ep_web.domain.conventions import create_convention
from ep_web.domain.habilitations import habilitation_rows
from ep_web.domain.requests import pending_from
from ep_web.htmx import is_partial, render_page_or_fragment
from ep_web.models import Partenaire
from ep_web.permissions import get_partenaire_or_404

REVIEW_DAYS = 30  # the deadline offered for a new review campaign

# Each sub-form of the partner's page and the region (partial) that shows it.
REGIONS = {
    "gestionnaire_form": "caisse/_gestionnaire_form.html",
    "review_form": "caisse/_revue.html",
    "suspend_form": "caisse/_suspension.html",
}


@bp.get("/partenaires")
@admin_required
def partenaires():
    form = FilterForm(formdata=request.args)
    q = (form.q.data or "").strip()[:200]
    return render_page_or_fragment("caisse/partenaires.html", "caisse/_partenaires_results.html",
                                   form=form, rows=domain.for_caisse(current_user.caisse_id, q), q=q)


@bp.route("/partenaires/nouveau", methods=["GET", "POST"])
@admin_required
def new_partenaire():
    """SPEC §2: the partner and its convention with this caisse, in one transaction."""
    form = NewPartenaireForm()
    form.set_parents(domain.parent_choices(current_user.caisse_id))

    def render(status, refusal=None):
        return page("caisse/partenaire_new.html", status, form=form)

    if request.method == "GET":
        form.signed_on.data = today()
        return render(200)

    def create():
        partenaire = domain.create_partenaire(actor(), form.partenaire_data())
        create_convention(actor(), partenaire, **form.convention_data())
        return partenaire

    return run(create, form=form, render=render,
               success=lambda p: (f"La structure « {p.name} » et sa convention sont créées. "
                                  "Vous pouvez maintenant créer ses gestionnaires."),
               then=lambda p: url_for("caisse.partenaire", partenaire_id=p.id))


# ---------------------------------------------------------------- one partner

def _regions_context(p: Partenaire, forms: dict) -> dict:
    """What the three sub-form regions show."""
    return {
        "partenaire": p,
        "in_force": caisse_in_force(current_user.caisse_id, p.id),
        "seats": quotas.seats(p),
        "progress": reviews.progress(reviews.latest_for(p.id)),
        "gestionnaire_form": forms.get("gestionnaire_form") or GestionnaireForm(prefix="g", formdata=None),
        "suspend_form": forms.get("suspend_form") or ReasonForm(prefix="suspend", formdata=None),
        "review_form": forms.get("review_form") or ReviewForm(
            prefix="review", formdata=None, data={"deadline": today() + timedelta(days=REVIEW_DAYS)}),
    }


def render_partenaire(p: Partenaire, status: int = 200, refusal: str | None = None, **forms):
    """The partner's page, or for htmx the region of the one sub-form in ``forms``.

    ``refusal`` (a message tied to no field) is announced in #flash — by base.html
    on the page, by the runner out of band with a region — and written at the top
    of its form when the form is still there (_forms.html form_message)."""
    ctx = _regions_context(p, forms)
    ctx["refusal"] = refusal
    if is_partial() and len(forms) == 1:
        [name] = forms
        return page(REGIONS[name], status, **ctx)
    caisse_id = current_user.caisse_id
    ctx.update(
        conventions=domain.conventions_with(caisse_id, p.id),
        other_conventions=[c for c in conventions_in_force(p.id) if c.caisse_id != caisse_id],
        rows=habilitation_rows(p.id),
        pending_requests=pending_from(caisse_id, p.id),
        sites=domain.sites_known_to(caisse_id, p),
    )
    return page("caisse/partenaire.html", status, **ctx)


@bp.get("/partenaires/<int:partenaire_id>")
@admin_required
def partenaire(partenaire_id: int):
    return render_partenaire(get_partenaire_or_404(partenaire_id))


def _partenaire_initial(p: Partenaire) -> dict:
    return {
        "name": p.name, "siret": p.siret or "", "address": p.address, "type": p.type.value,
        "members": str(p.members), "habilite_documents": p.habilite_documents, "email_domains": p.email_domains,
        "referent_name": p.referent_name, "referent_email": p.referent_email, "dpo_name": p.dpo_name,
        "dpo_email": p.dpo_email, "parent_id": str(p.parent_id) if p.parent_id else "",
    }


@bp.route("/partenaires/<int:partenaire_id>/modifier", methods=["GET", "POST"])
@admin_required
def edit_partenaire(partenaire_id: int):
    p = get_partenaire_or_404(partenaire_id)
    form = PartenaireForm() if request.method == "POST" else PartenaireForm(data=_partenaire_initial(p))
    # A structure that has sites cannot become a site itself.
    form.set_parents([] if p.sites else domain.parent_choices(current_user.caisse_id, exclude_id=p.id))

    def render(status, refusal=None):
        return page("caisse/partenaire_edit.html", status, form=form, partenaire=p)

    if request.method == "GET":
        return render(200)
    return run(lambda: domain.update_partenaire(actor(), p, form.partenaire_data()), form=form, render=render,
               success=lambda changed: "Fiche de la structure enregistrée." if changed else "Aucune modification.",
               then=url_for("caisse.partenaire", partenaire_id=p.id))
