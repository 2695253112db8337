"""The caisse's DPO mailbox (SPEC §7: told at once of a suspected data
breach), set by its référent from the data-breach page; national sets it on
the caisse's page."""
from flask import url_for

from ep_web.actions import run
from ep_web.breaches.forms import DpoForm
from ep_web.breaches.routes import index_page
from ep_web.caisse import actor, admin_required, bp
from ep_web.domain.caisses import set_dpo_email


@bp.post("/dpo")
@admin_required
def update_dpo():
    form = DpoForm()
    return run(lambda: set_dpo_email(actor(), actor().caisse, form.dpo_email.data),
               form=form, render=lambda status, refusal: index_page(form, status, refusal),
               success="Adresse du délégué à la protection des données enregistrée.",
               then=url_for("breaches.index"))
