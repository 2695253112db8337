"""Suspected personal-data breaches (SPEC §7): ``/violations``, one blueprint
for every profile. Reporting is open to every user; the list and the report
follow ``ep_web.permissions.breaches``; the follow-up is the caisse's
admin_caisse's. Another structure's or caisse's report is a 404."""
from flask import Blueprint, render_template, url_for
from flask_login import current_user, login_required

from ep_web.actions import page_status, run
from ep_web.breaches.forms import ActionForm, BreachForm, CnilForm, DpoForm, QualifyForm
from ep_web.domain import breaches as domain
from ep_web.forms import choices
from ep_web.models import BreachReport, Profile
from ep_web.permissions.breaches import can_follow_up_breach, can_report_breach, get_breach_or_404

bp = Blueprint("breaches", __name__, url_prefix="/violations")


def _actor():
    return current_user._get_current_object()


def _set_caisses(form: BreachForm, caisses) -> None:
    pairs = [(c.id, c.name) for c in caisses]
    if len(pairs) != 1:
        pairs = [("", "— Choisir la caisse —")] + pairs
    form.caisse_id.choices = choices(pairs)


def index_page(dpo_form: DpoForm | None = None, status: int = 200, refusal: str | None = None):
    """The list; for an admin_caisse, with the form of its caisse's DPO mailbox
    (posted to ``caisse.update_dpo``)."""
    actor = _actor()
    if dpo_form is None and actor.profile == Profile.ADMIN_CAISSE:
        dpo_form = DpoForm(formdata=None, dpo_email=actor.caisse.dpo_email)
    return render_template("breaches/index.html", reports=domain.visible_reports(actor),
                           can_report=can_report_breach(actor), clocks=domain.clocks, dpo_form=dpo_form,
                           refusal=refusal), status


@bp.get("")
@login_required
def index():
    return index_page()


def _new_page(form: BreachForm, caisses, status: int, refusal: str | None = None):
    return render_template("breaches/new.html", form=form, caisses=caisses, refusal=refusal), status


@bp.get("/nouveau")
@login_required
def new():
    form = BreachForm()
    caisses = domain.reportable_caisses(_actor())
    _set_caisses(form, caisses)
    return _new_page(form, caisses, page_status(form))


@bp.post("/nouveau")
@login_required
def create():
    form = BreachForm()
    caisses = domain.reportable_caisses(_actor())
    _set_caisses(form, caisses)

    def call() -> BreachReport:
        noticed_at = domain.parse_noticed(form.noticed_date.data, form.noticed_time.data)
        return domain.report_breach(_actor(), caisse_id=form.caisse_id.data, description=form.description.data or "",
                                    noticed_at=noticed_at, concerned=form.concerned.data or "",
                                    demande_references=form.demande_references.data or "")

    return run(call, form=form, render=lambda status, refusal: _new_page(form, caisses, status, refusal),
               success=lambda r: (f"Votre signalement {r.reference} est transmis : le délégué à la protection des "
                                  f"données et le référent de {r.caisse.name} sont prévenus par e-mail."),
               then=lambda r: url_for("breaches.show", report_id=r.id))


def _show(report: BreachReport, status: int = 200, qualify_form=None, cnil_form=None, refusal=None):
    follow_up = can_follow_up_breach(_actor(), report)
    qualify_form = qualify_form or QualifyForm(formdata=None)
    cnil_form = cnil_form or CnilForm(formdata=None)
    if qualify_form.qualification.data is None and report.qualification:
        qualify_form.qualification.data = report.qualification.value
    return render_template("breaches/show.html", report=report, clocks=domain.clocks(report),
                           follow_up=follow_up, qualify_form=qualify_form, cnil_form=cnil_form,
                           close_form=ActionForm(formdata=None), refusal=refusal), status


@bp.get("/<int:report_id>")
@login_required
def show(report_id: int):
    return _show(get_breach_or_404(report_id))


@bp.post("/<int:report_id>/qualification")
@login_required
def qualify(report_id: int):
    report = get_breach_or_404(report_id)
    form = QualifyForm()
    return run(lambda: domain.qualify(_actor(), report, form.qualification.data or "", form.comment.data or ""),
               form=form, render=lambda status, refusal: _show(report, status, qualify_form=form,
                                                                refusal=refusal),
               success="Qualification enregistrée.", then=url_for("breaches.show", report_id=report.id))


@bp.post("/<int:report_id>/cnil")
@login_required
def cnil(report_id: int):
    report = get_breach_or_404(report_id)
    form = CnilForm()
    return run(lambda: domain.decide_cnil(_actor(), report, form.notified.data or "", form.reason.data or ""),
               form=form, render=lambda status, refusal: _show(report, status, cnil_form=form, refusal=refusal),
               success="Décision de notification à la CNIL enregistrée.",
               then=url_for("breaches.show", report_id=report.id))


@bp.post("/<int:report_id>/cloture")
@login_required
def close(report_id: int):
    report = get_breach_or_404(report_id)
    return run(lambda: domain.close(_actor(), report), form=ActionForm(),
               render=lambda status, refusal: _show(report, status, refusal=refusal),
               success="Signalement clos.", then=url_for("breaches.show", report_id=report.id))
