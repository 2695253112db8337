"""The national administration: caisses, their référents, the whole audit log."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ep_web.audit_search import audit_page
from ep_web.clock import today
from ep_web.domain.access import in_force_filter
from ep_web.domain.accounts import create_caisse_account, inactivate
from ep_web.domain.caisses import create_caisse_with_referent, resend_referent_activation, update_caisse
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.forms import attach_error
from ep_web.models import Account, AccountStatus, Caisse, Convention, EmailStatus, JobRun, OutboxEmail, Profile
from ep_web.national.forms import CaisseForm, InactivateForm, NewCaisseForm, ReferentForm
from ep_web.permissions import get_account_or_404, profile_required
from ep_web.transaction import commit, rollback

bp = Blueprint("national", __name__, url_prefix="/national")

national_only = profile_required(Profile.ADMIN_NATIONAL)


def _actor() -> Account:
    return current_user._get_current_object()


def _get_caisse_or_404(caisse_id: int) -> Caisse:
    caisse = db.session.get(Caisse, caisse_id)
    if caisse is None:
        abort(404)
    return caisse


def _get_referent_or_404(caisse: Caisse, account_id: int) -> Account:
    account = get_account_or_404(account_id, Profile.ADMIN_CAISSE)
    if account.caisse_id != caisse.id:
        abort(404)
    return account


def _referents(caisse_id: int) -> list[Account]:
    return list(
        db.session.scalars(
            select(Account)
            .where(Account.caisse_id == caisse_id, Account.profile == Profile.ADMIN_CAISSE,
                   Account.status != AccountStatus.DELETED)
            .order_by(Account.nom, Account.prenom, Account.id)
        )
    )


# ---------------------------------------------------------------- caisses

@bp.get("/caisses")
@national_only
def caisses():
    caisses = db.session.scalars(select(Caisse).order_by(Caisse.name)).all()
    partners = dict(
        db.session.execute(
            select(Convention.caisse_id, func.count(func.distinct(Convention.partenaire_id)))
            .where(*in_force_filter(today()))
            .group_by(Convention.caisse_id)
        ).all()
    )
    admins: dict[int, dict] = {}
    for caisse_id, status, n in db.session.execute(
        select(Account.caisse_id, Account.status, func.count(Account.id))
        .where(Account.profile == Profile.ADMIN_CAISSE,
               Account.status.in_((AccountStatus.ACTIVE, AccountStatus.PENDING)))
        .group_by(Account.caisse_id, Account.status)
    ):
        admins.setdefault(caisse_id, {})[AccountStatus(status).value] = n
    return render_template("national/caisses.html", caisses=caisses, partners=partners, admins=admins)


@bp.get("/caisses/nouvelle")
@national_only
def new():
    return render_template("national/new.html", form=NewCaisseForm())


@bp.post("/caisses/nouvelle")
@national_only
def create():
    form = NewCaisseForm()
    if not form.validate():
        return render_template("national/new.html", form=form), 422
    try:
        caisse, account = create_caisse_with_referent(_actor(), form.caisse_data(), form.identity())
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return render_template("national/new.html", form=form), 422
    commit()
    flash(f"La caisse « {caisse.name} » est créée. Un e-mail d'activation a été envoyé à {account.email} "
          f"(identifiant {account.login}).", "success")
    return redirect(url_for("national.show", caisse_id=caisse.id), 303)


@bp.get("/caisses/<int:caisse_id>")
@national_only
def show(caisse_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    partners = db.session.scalar(
        select(func.count(func.distinct(Convention.partenaire_id)))
        .where(Convention.caisse_id == caisse.id, *in_force_filter(today()))
    )
    active_referents = [a for a in _referents(caisse.id) if a.status == AccountStatus.ACTIVE]
    return render_template("national/show.html", caisse=caisse, referents=_referents(caisse.id),
                           partners=partners, active_referents=active_referents)


@bp.get("/caisses/<int:caisse_id>/modifier")
@national_only
def edit(caisse_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    return render_template("national/edit.html", caisse=caisse, form=CaisseForm(obj=caisse))


@bp.post("/caisses/<int:caisse_id>/modifier")
@national_only
def update(caisse_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    form = CaisseForm()
    if not form.validate():
        return render_template("national/edit.html", caisse=caisse, form=form), 422
    try:
        changed = update_caisse(_actor(), caisse, form.caisse_data())
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return render_template("national/edit.html", caisse=caisse, form=form), 422
    commit()
    flash("Les informations de la caisse sont enregistrées." if changed else "Aucune modification.",
          "success" if changed else "info")
    return redirect(url_for("national.show", caisse_id=caisse.id), 303)


# ---------------------------------------------------------------- référents (admin_caisse)

@bp.get("/caisses/<int:caisse_id>/referents/nouveau")
@national_only
def new_referent(caisse_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    return render_template("national/new_referent.html", caisse=caisse, form=ReferentForm())


@bp.post("/caisses/<int:caisse_id>/referents/nouveau")
@national_only
def create_referent(caisse_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    form = ReferentForm()
    if not form.validate():
        return render_template("national/new_referent.html", caisse=caisse, form=form), 422
    try:
        account = create_caisse_account(_actor(), caisse, Profile.ADMIN_CAISSE, form.identity())
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return render_template("national/new_referent.html", caisse=caisse, form=form), 422
    commit()
    flash(f"Le compte de {account.full_name} est créé (identifiant {account.login}). "
          f"Un e-mail d'activation a été envoyé à {account.email}.", "success")
    return redirect(url_for("national.show", caisse_id=caisse.id), 303)


@bp.get("/caisses/<int:caisse_id>/referents/<int:account_id>/inactiver")
@national_only
def confirm_inactivate_referent(caisse_id: int, account_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    account = _get_referent_or_404(caisse, account_id)
    return _inactivate_page(caisse, account, InactivateForm())


def _inactivate_page(caisse: Caisse, account: Account, form: InactivateForm, status: int = 200):
    others = [a for a in _referents(caisse.id) if a.status == AccountStatus.ACTIVE and a.id != account.id]
    return render_template("national/inactivate.html", caisse=caisse, account=account, form=form,
                           last_one=not others), status


@bp.post("/caisses/<int:caisse_id>/referents/<int:account_id>/inactiver")
@national_only
def inactivate_referent(caisse_id: int, account_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    account = _get_referent_or_404(caisse, account_id)
    form = InactivateForm()
    if not form.validate():
        return _inactivate_page(caisse, account, form, 422)
    try:
        inactivate(account, actor=_actor(), reason=form.reason.data or "")
    except NotAllowed:
        rollback()
        abort(403)
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return _inactivate_page(caisse, account, form, 422)
    commit()
    flash(f"Le compte de {account.full_name} ({account.login}) est inactivé : ses sessions sont fermées.", "success")
    return redirect(url_for("national.show", caisse_id=caisse.id), 303)


@bp.post("/caisses/<int:caisse_id>/referents/<int:account_id>/activation")
@national_only
def resend_activation(caisse_id: int, account_id: int):
    caisse = _get_caisse_or_404(caisse_id)
    account = _get_referent_or_404(caisse, account_id)
    try:
        resend_referent_activation(_actor(), account)
    except NotAllowed:
        rollback()
        abort(403)
    except DomainError as exc:
        rollback()
        flash(exc.message, "error")
        return redirect(url_for("national.show", caisse_id=caisse.id), 303)
    commit()
    flash(f"Un nouveau lien d'activation a été envoyé à {account.email}. Les liens précédents ne fonctionnent plus.",
          "success")
    return redirect(url_for("national.show", caisse_id=caisse.id), 303)


# ---------------------------------------------------------------- journal

@bp.get("/journal")
@national_only
def audit():
    return audit_page(caisse_id=None)


# ---------------------------------------------------------------- tâches (job journal, failed e-mails)

@bp.get("/taches")
@national_only
def jobs():
    """The periodic jobs' last runs and the e-mails that could not be sent."""
    from ep_web.domain.lifecycle import COUNT_LABELS, JOB_LABELS

    name = request.args.get("job", "")
    if name not in JOB_LABELS:
        name = ""
    latest_ids = select(func.max(JobRun.id)).group_by(JobRun.name)
    latest = {r.name: r for r in db.session.scalars(select(JobRun).where(JobRun.id.in_(latest_ids)))}
    q = select(JobRun).order_by(JobRun.id.desc()).limit(50)
    if name:
        q = q.where(JobRun.name == name)
    runs = db.session.scalars(q).all()
    by_status = dict(db.session.execute(
        select(OutboxEmail.status, func.count(OutboxEmail.id)).group_by(OutboxEmail.status)).all())
    failed = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.status == EmailStatus.FAILED).order_by(OutboxEmail.id.desc()).limit(100)
    ).all()
    return render_template("national/jobs.html", latest=latest, runs=runs, job=name, labels=JOB_LABELS,
                           count_labels=COUNT_LABELS, failed=failed,
                           outbox_counts={EmailStatus(k).value: v for k, v in by_status.items()})


@bp.post("/taches/emails/<int:email_id>/renvoyer")
@national_only
def resend_email(email_id: int):
    from ep_web.domain.lifecycle import resend_failed_email

    email = db.session.get(OutboxEmail, email_id)
    if email is None:
        abort(404)
    try:
        resend_failed_email(_actor(), email)
    except NotAllowed:
        rollback()
        abort(403)
    except DomainError as exc:
        rollback()
        flash(exc.message, "error")
        return redirect(url_for("national.jobs"), 303)
    commit()
    flash(f"L'e-mail « {email.subject} » à {email.to} est renvoyé.", "success")
    return redirect(url_for("national.jobs"), 303)
