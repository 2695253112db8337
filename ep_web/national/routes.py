"""The national administration: caisses, their référents, the whole audit log."""
from flask import Blueprint, render_template, request, url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.audit_search import audit_page
from ep_web.auth.reauth import recent_auth_required
from ep_web.domain import caisses as domain
from ep_web.domain.accounts import create_caisse_account, inactivate
from ep_web.domain.journal import jobs_overview
from ep_web.models import Account, AccountStatus, Caisse, Profile
from ep_web.national.forms import CaisseForm, InactivateForm, NewCaisseForm, ReferentForm
from ep_web.permissions import get_caisse_or_404, get_outbox_email_or_404, get_referent_or_404, profile_required

bp = Blueprint("national", __name__, url_prefix="/national")

national_only = profile_required(Profile.ADMIN_NATIONAL)


def _actor() -> Account:
    return current_user._get_current_object()


# ---------------------------------------------------------------- caisses

@bp.get("/caisses")
@national_only
def caisses():
    return render_template("national/caisses.html", caisses=domain.caisses_by_name(),
                           partners=domain.partners_in_force(), admins=domain.referent_counts())


@bp.get("/caisses/nouvelle")
@national_only
def new():
    return render_template("national/new.html", form=NewCaisseForm())


@bp.post("/caisses/nouvelle")
@national_only
def create():
    # A refusal shows next to its field or at the top of the form (form_error).
    form = NewCaisseForm()
    return run(
        lambda: domain.create_caisse_with_referent(_actor(), form.caisse_data(), form.identity()), form=form,
        render=lambda status, refusal: (render_template("national/new.html", form=form), status),
        success=lambda created: (f"La caisse « {created[0].name} » est créée. Un e-mail d'activation a été envoyé "
                                 f"à {created[1].email} (identifiant {created[1].login})."),
        then=lambda created: url_for("national.show", caisse_id=created[0].id),
    )


def _show_page(caisse: Caisse, status: int = 200, refusal: str | None = None):
    referents = domain.referents(caisse.id)
    return render_template("national/show.html", caisse=caisse, referents=referents,
                           partners=domain.partners_in_force(caisse.id).get(caisse.id, 0),
                           active_referents=[a for a in referents if a.status == AccountStatus.ACTIVE],
                           refusal=refusal), status


@bp.get("/caisses/<int:caisse_id>")
@national_only
def show(caisse_id: int):
    return _show_page(get_caisse_or_404(caisse_id))


@bp.get("/caisses/<int:caisse_id>/modifier")
@national_only
def edit(caisse_id: int):
    caisse = get_caisse_or_404(caisse_id)
    return render_template("national/edit.html", caisse=caisse, form=CaisseForm(obj=caisse))


@bp.post("/caisses/<int:caisse_id>/modifier")
@national_only
def update(caisse_id: int):
    caisse = get_caisse_or_404(caisse_id)
    form = CaisseForm()
    return run(
        lambda: domain.update_caisse(_actor(), caisse, form.caisse_data()), form=form,
        render=lambda status, refusal: (render_template("national/edit.html", caisse=caisse, form=form), status),
        success=lambda changed: ("Les informations de la caisse sont enregistrées." if changed
                                 else "Aucune modification."),
        then=url_for("national.show", caisse_id=caisse.id),
    )


# ---------------------------------------------------------------- référents (admin_caisse)

@bp.get("/caisses/<int:caisse_id>/referents/nouveau")
@national_only
def new_referent(caisse_id: int):
    caisse = get_caisse_or_404(caisse_id)
    return render_template("national/new_referent.html", caisse=caisse, form=ReferentForm())


@bp.post("/caisses/<int:caisse_id>/referents/nouveau")
@national_only
@recent_auth_required
def create_referent(caisse_id: int):
    caisse = get_caisse_or_404(caisse_id)
    form = ReferentForm()
    return run(
        lambda: create_caisse_account(_actor(), caisse, Profile.ADMIN_CAISSE, form.identity()), form=form,
        render=lambda status, refusal: (render_template("national/new_referent.html", caisse=caisse, form=form),
                                        status),
        success=lambda account: (f"Le compte de {account.full_name} est créé (identifiant {account.login}). "
                                 f"Un e-mail d'activation a été envoyé à {account.email}."),
        then=url_for("national.show", caisse_id=caisse.id),
    )


def _inactivate_page(caisse: Caisse, account: Account, form: InactivateForm, status: int = 200):
    others = [a for a in domain.referents(caisse.id) if a.status == AccountStatus.ACTIVE and a.id != account.id]
    return render_template("national/inactivate.html", caisse=caisse, account=account, form=form,
                           last_one=not others), status


@bp.get("/caisses/<int:caisse_id>/referents/<int:account_id>/inactiver")
@national_only
def confirm_inactivate_referent(caisse_id: int, account_id: int):
    caisse = get_caisse_or_404(caisse_id)
    return _inactivate_page(caisse, get_referent_or_404(caisse, account_id), InactivateForm())


@bp.post("/caisses/<int:caisse_id>/referents/<int:account_id>/inactiver")
@national_only
@recent_auth_required
def inactivate_referent(caisse_id: int, account_id: int):
    caisse = get_caisse_or_404(caisse_id)
    account = get_referent_or_404(caisse, account_id)
    form = InactivateForm()
    return run(
        lambda: inactivate(account, actor=_actor(), reason=form.reason.data or ""), form=form,
        render=lambda status, refusal: _inactivate_page(caisse, account, form, status),
        success=f"Le compte de {account.full_name} ({account.login}) est inactivé : ses sessions sont fermées.",
        then=url_for("national.show", caisse_id=caisse.id),
    )


@bp.post("/caisses/<int:caisse_id>/referents/<int:account_id>/activation")
@national_only
def resend_activation(caisse_id: int, account_id: int):
    caisse = get_caisse_or_404(caisse_id)
    account = get_referent_or_404(caisse, account_id)
    return run(
        lambda: domain.resend_referent_activation(_actor(), account),
        render=lambda status, refusal: _show_page(caisse, status, refusal),
        success=(f"Un nouveau lien d'activation a été envoyé à {account.email}. "
                 "Les liens précédents ne fonctionnent plus."),
        then=url_for("national.show", caisse_id=caisse.id),
    )


# ---------------------------------------------------------------- journal

@bp.get("/journal")
@national_only
def audit():
    return audit_page(caisse_id=None)


# ---------------------------------------------------------------- tâches (job journal, failed e-mails)

def _jobs_page(status: int = 200, refusal: str | None = None):
    """What is late (on top, in red), the workers, the periodic jobs' last
    runs and the e-mails that could not be sent."""
    from ep_web.domain import monitoring
    from ep_web.domain.lifecycle import COUNT_LABELS, JOB_LABELS

    name = request.args.get("job", "")
    if name not in JOB_LABELS:
        name = ""
    overview = jobs_overview(name)
    return render_template("national/jobs.html", latest=overview.latest, runs=overview.runs, job=name,
                           labels=JOB_LABELS, count_labels=COUNT_LABELS, failed=overview.failed,
                           outbox_counts=overview.outbox_counts, refusal=refusal,
                           late=monitoring.late_items(), heartbeats=monitoring.heartbeats(),
                           is_silent=monitoring.is_silent, state_labels=monitoring.STATE_LABELS), status


@bp.get("/taches")
@national_only
def jobs():
    return _jobs_page()


@bp.post("/taches/emails/<int:email_id>/renvoyer")
@national_only
def resend_email(email_id: int):
    from ep_web.domain.lifecycle import resend_failed_email

    email = get_outbox_email_or_404(email_id)
    return run(
        lambda: resend_failed_email(_actor(), email),
        render=lambda status, refusal: _jobs_page(status, refusal),
        success=f"L'e-mail « {email.subject} » à {email.to} est renvoyé.", then=url_for("national.jobs"),
    )
