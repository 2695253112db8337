"""The national admin schedules, cancels and ends maintenance windows (SPEC §5)."""
from flask import Blueprint, render_template, url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.clock import now, to_paris
from ep_web.confirm import ask
from ep_web.domain import maintenance as domain
from ep_web.maintenance.forms import ActionForm, MaintenanceForm
from ep_web.models import Profile
from ep_web.permissions import get_window_or_404, profile_required

bp = Blueprint("maintenance", __name__, url_prefix="/national/maintenance")

national_only = profile_required(Profile.ADMIN_NATIONAL)

STATUS_LABELS = {"programmee": "Programmée", "en_cours": "En cours", "terminee": "Terminée", "annulee": "Annulée"}
STATUS_BADGES = {"programmee": "fr-badge--info", "en_cours": "fr-badge--warning", "terminee": "", "annulee": ""}


def _actor():
    return current_user._get_current_object()


def _page(form: MaintenanceForm, status: int = 200, refusal: str | None = None):
    at = now()
    windows = [(w, domain.window_status(w, at)) for w in domain.windows_for_admin()]
    return render_template("maintenance/index.html", form=form, windows=windows, labels=STATUS_LABELS,
                           badges=STATUS_BADGES, action_form=ActionForm(formdata=None),
                           notice_days=domain.NOTICE_DAYS, refusal=refusal), status


@bp.get("")
@national_only
def index():
    return _page(MaintenanceForm(formdata=None))


@bp.post("")
@national_only
def create():
    # A refusal shows next to its field or at the top of the form (form_error).
    form = MaintenanceForm()
    return run(
        lambda: domain.schedule(_actor(), form.starts_at.data, form.ends_at.data, form.message.data or ""),
        form=form, render=lambda status, refusal: _page(form, status),
        success=("La maintenance est programmée : le bandeau d'annonce s'affiche "
                 f"{domain.NOTICE_DAYS} jours avant son début."),
        then=lambda window: url_for("maintenance.index", _anchor=f"maintenance-{window.id}"),
    )


def _act(window_id: int, operation, success: str, question: str, button: str):
    window = get_window_or_404(window_id)
    if (asked := ask(question, title=f"{button} du {to_paris(window.starts_at):%d/%m/%Y à %H:%M}",
                     button=button, back=url_for("maintenance.index"))) is not None:
        return asked
    return run(
        lambda: operation(_actor(), window), form=ActionForm(),
        render=lambda status, refusal: _page(MaintenanceForm(formdata=None), status, refusal),
        success=success, then=url_for("maintenance.index"),
    )


@bp.post("/<int:window_id>/annuler")
@national_only
def cancel(window_id: int):
    return _act(window_id, domain.cancel, "La maintenance est annulée : le bandeau d'annonce n'est plus affiché.",
                "La maintenance sera annulée et son annonce retirée : pour la reprogrammer, il faudra la recréer.",
                "Annuler la maintenance")


@bp.post("/<int:window_id>/terminer")
@national_only
def end(window_id: int):
    return _act(window_id, domain.end_now, "La maintenance est terminée : le portail est de nouveau ouvert à tous.",
                "La maintenance prendra fin tout de suite et le portail sera rouvert à tous.",
                "Terminer la maintenance")
