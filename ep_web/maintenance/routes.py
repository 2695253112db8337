"""The national admin schedules, cancels and ends maintenance windows (SPEC §5)."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ep_web.clock import now
from ep_web.domain import maintenance as domain
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.forms import attach_error
from ep_web.maintenance.forms import ActionForm, MaintenanceForm
from ep_web.models import MaintenanceWindow, Profile
from ep_web.permissions import profile_required
from ep_web.transaction import commit, rollback

bp = Blueprint("maintenance", __name__, url_prefix="/national/maintenance")

national_only = profile_required(Profile.ADMIN_NATIONAL)

STATUS_LABELS = {"programmee": "Programmée", "en_cours": "En cours", "terminee": "Terminée", "annulee": "Annulée"}
STATUS_BADGES = {"programmee": "fr-badge--info", "en_cours": "fr-badge--warning", "terminee": "", "annulee": ""}


def _get_window_or_404(window_id: int) -> MaintenanceWindow:
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None:
        abort(404)
    return window


def _page(form: MaintenanceForm, status: int = 200):
    at = now()
    windows = [(w, domain.window_status(w, at)) for w in domain.windows_for_admin()]
    return render_template("maintenance/index.html", form=form, windows=windows, labels=STATUS_LABELS,
                           badges=STATUS_BADGES, action_form=ActionForm(formdata=None),
                           notice_days=domain.NOTICE_DAYS), status


@bp.get("")
@national_only
def index():
    return _page(MaintenanceForm(formdata=None))


@bp.post("")
@national_only
def create():
    form = MaintenanceForm()
    if not form.validate():
        return _page(form, 422)
    try:
        window = domain.schedule(current_user._get_current_object(), form.starts_at.data, form.ends_at.data,
                                 form.message.data or "")
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return _page(form, 422)
    commit()
    flash("La maintenance est programmée : le bandeau d'annonce s'affiche "
          f"{domain.NOTICE_DAYS} jours avant son début.", "success")
    return redirect(url_for("maintenance.index", _anchor=f"maintenance-{window.id}"), 303)


def _act(window_id: int, operation, success: str):
    window = _get_window_or_404(window_id)
    if not ActionForm().validate():
        abort(400)
    try:
        operation(current_user._get_current_object(), window)
    except DomainError as exc:
        rollback()
        flash(exc.message, "error")
        return redirect(url_for("maintenance.index"), 303)
    commit()
    flash(success, "success")
    return redirect(url_for("maintenance.index"), 303)


@bp.post("/<int:window_id>/annuler")
@national_only
def cancel(window_id: int):
    return _act(window_id, domain.cancel, "La maintenance est annulée : le bandeau d'annonce n'est plus affiché.")


@bp.post("/<int:window_id>/terminer")
@national_only
def end(window_id: int):
    return _act(window_id, domain.end_now, "La maintenance est terminée : le portail est de nouveau ouvert à tous.")
