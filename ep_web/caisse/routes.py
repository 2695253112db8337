"""The référent partenariat (admin_caisse) area: partners, conventions,
gestionnaire accounts, partner requests, the caisse's agents, the audit log.

Every route: validate the form → load and authorize (permissions loaders: an
object outside the caisse is a 404) → call one domain function → commit once →
303 (or an htmx fragment); on a DomainError, roll back and show the form again
with the message next to its field and everything typed kept (422; 403 when
the domain says the caisse may not act, e.g. its convention has ended)."""
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ep_web.caisse.forms import (
    ActionForm,
    AgentForm,
    ConventionForm,
    EndConventionForm,
    FilterForm,
    GestionnaireForm,
    NewPartenaireForm,
    PartenaireForm,
    ReasonForm,
    RefuseForm,
    ReviewForm,
    ScheduleForm,
    ServicesForm,
)
from ep_web.clock import today
from ep_web.domain import quotas
from ep_web.domain.access import caisse_in_force, conventions_in_force
from ep_web.domain.accounts import (
    create_caisse_account,
    create_gestionnaire,
    inactivate,
    modify_gestionnaire,
    resend_activation,
    schedule_gestionnaire_inactivation,
)
from ep_web.domain.conventions import (
    create_convention,
    denounce,
    renew,
    set_services,
    terminate,
)
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.habilitations import habilitation_rows
from ep_web.domain.partenaires import create_partenaire, suspend, unsuspend, update_partenaire
from ep_web.domain.requests import accept_request, pending_for_caisse, refuse_request
from ep_web.domain.reviews import open_review, open_review_for
from ep_web.extensions import db
from ep_web.forms import attach_error
from ep_web.htmx import is_partial, render_fragments, render_page_or_fragment
from ep_web.models import (
    SEAT_STATUSES,
    Account,
    AccountStatus,
    Convention,
    GestionnaireRequest,
    HabilitationReview,
    Partenaire,
    Profile,
    RequestKind,
    RequestStatus,
)
from ep_web.permissions import (
    get_account_or_404,
    get_convention_or_404,
    get_partenaire_or_404,
    get_request_or_404,
    profile_required,
)
from ep_web.transaction import commit, rollback

bp = Blueprint("caisse", __name__, url_prefix="/caisse")

admin_required = profile_required(Profile.ADMIN_CAISSE)


def _actor() -> Account:
    return current_user._get_current_object()


def _refused(form, exc: DomainError) -> int:
    """Roll back, show the refusal on the form; 403 when the caisse may not act."""
    rollback()
    attach_error(form, exc)
    return 403 if isinstance(exc, NotAllowed) else 422


def _page_status(form) -> int:
    return 422 if form.is_submitted() else 200


# ---------------------------------------------------------------- partners list

@dataclass
class Seats:
    used: int
    limit: int

    @property
    def full(self) -> bool:
        return self.used >= self.limit


@dataclass
class PartenaireRow:
    partenaire: Partenaire
    convention: Convention
    gestionnaires: Seats
    techniciens: Seats


def _seats(partenaire: Partenaire, used: dict | None = None) -> dict:
    """SPEC §3 quotas in view: seats used (active + pending) / limit, per profile."""
    quota = quotas.quota_for(partenaire.members)
    if used is None:
        used = {p: quotas.seats_used(partenaire.id, p) for p in (Profile.GESTIONNAIRE, Profile.TECHNICIEN)}
    return {
        "gestionnaires": Seats(used.get(Profile.GESTIONNAIRE, 0), quota.gestionnaires),
        "techniciens": Seats(used.get(Profile.TECHNICIEN, 0), quota.techniciens),
    }


def _caisse_partenaires(caisse_id: int, q: str = "") -> list[PartenaireRow]:
    """The partners holding (or having held) a convention with the caisse, each
    with the convention that matters: the one in force, else the latest."""
    stmt = (
        select(Convention)
        .join(Partenaire, Partenaire.id == Convention.partenaire_id)
        .where(Convention.caisse_id == caisse_id)
    )
    if q:
        stmt = stmt.where(func.lower(Partenaire.name).contains(q.lower(), autoescape=True))
    on = today()
    best: dict[int, Convention] = {}
    for conv in db.session.scalars(stmt):
        current = best.get(conv.partenaire_id)
        key = (conv.is_in_force(on), conv.ends_on, conv.id)
        if current is None or key > (current.is_in_force(on), current.ends_on, current.id):
            best[conv.partenaire_id] = conv
    if not best:
        return []
    used: dict[int, dict] = {}
    for partenaire_id, profile, count in db.session.execute(
        select(Account.partenaire_id, Account.profile, func.count(Account.id))
        .where(Account.partenaire_id.in_(best), Account.status.in_(SEAT_STATUSES))
        .group_by(Account.partenaire_id, Account.profile)
    ):
        used.setdefault(partenaire_id, {})[profile] = count
    rows = []
    for conv in best.values():
        seats = _seats(conv.partenaire, used.get(conv.partenaire_id, {}))
        rows.append(PartenaireRow(conv.partenaire, conv, seats["gestionnaires"], seats["techniciens"]))
    return sorted(rows, key=lambda r: (r.partenaire.name.lower(), r.partenaire.id))


@bp.get("/partenaires")
@admin_required
def partenaires():
    form = FilterForm(formdata=request.args)
    q = (form.q.data or "").strip()[:200]
    rows = _caisse_partenaires(current_user.caisse_id, q)
    return render_page_or_fragment("caisse/partenaires.html", "caisse/_partenaires_results.html",
                                   form=form, rows=rows, q=q)


def _parent_choices(exclude_id: int | None = None) -> list[Partenaire]:
    """A site's parent: a main structure (not itself a site) known to this caisse."""
    ids = select(Convention.partenaire_id).where(Convention.caisse_id == current_user.caisse_id)
    stmt = select(Partenaire).where(Partenaire.id.in_(ids), Partenaire.parent_id.is_(None)).order_by(Partenaire.name)
    return [p for p in db.session.scalars(stmt) if p.id != exclude_id]


@bp.route("/partenaires/nouveau", methods=["GET", "POST"])
@admin_required
def new_partenaire():
    """SPEC §2: the partner and its convention with this caisse, in one transaction."""
    form = NewPartenaireForm()
    form.set_parents(_parent_choices())
    if not form.is_submitted():
        form.signed_on.data = today()
    if form.validate_on_submit():
        actor = _actor()
        try:
            partenaire = create_partenaire(actor, form.partenaire_data())
            create_convention(actor, partenaire, **form.convention_data())
        except DomainError as exc:
            status = _refused(form, exc)
            return render_template("caisse/partenaire_new.html", form=form), status
        commit()
        flash(f"La structure « {partenaire.name} » et sa convention sont créées. "
              "Vous pouvez maintenant créer ses gestionnaires.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=partenaire.id), 303)
    return render_template("caisse/partenaire_new.html", form=form), _page_status(form)


# ---------------------------------------------------------------- one partner

def _partner_account_or_404(partenaire: Partenaire, account_id: int, profile: Profile | None = None) -> Account:
    account = get_account_or_404(account_id, profile)
    if account.partenaire_id != partenaire.id:
        abort(404)
    return account


def _partner_convention_or_404(partenaire: Partenaire, convention_id: int) -> Convention:
    conv = get_convention_or_404(convention_id)
    if conv.partenaire_id != partenaire.id:
        abort(404)
    return conv


@dataclass
class ReviewProgress:
    review: HabilitationReview
    answered: int
    total: int

    @property
    def overdue(self) -> bool:
        return self.review.completed_at is None and today() > self.review.deadline


def _review_progress(partenaire: Partenaire) -> ReviewProgress | None:
    """The campaign in progress, else the last one (SPEC §3 [4.2]: unanswered
    reviews are shown to the caisse)."""
    review = open_review_for(partenaire.id) or db.session.scalar(
        select(HabilitationReview)
        .where(HabilitationReview.partenaire_id == partenaire.id)
        .order_by(HabilitationReview.id.desc())
        .limit(1)
    )
    if review is None:
        return None
    answered = sum(1 for i in review.items if i.decision is not None)
    return ReviewProgress(review, answered, len(review.items))


def _partenaire_context(partenaire: Partenaire) -> dict:
    caisse_id = current_user.caisse_id
    conventions = db.session.scalars(
        select(Convention)
        .where(Convention.partenaire_id == partenaire.id, Convention.caisse_id == caisse_id)
        .order_by(Convention.signed_on.desc(), Convention.id.desc())
    ).all()
    return {
        "partenaire": partenaire,
        "conventions": conventions,
        "in_force": caisse_in_force(caisse_id, partenaire.id),
        "other_conventions": [c for c in conventions_in_force(partenaire.id) if c.caisse_id != caisse_id],
        "seats": _seats(partenaire),
    }


def _render_partenaire(partenaire: Partenaire, status: int = 200, **forms):
    ctx = _partenaire_context(partenaire)
    ctx.update(
        rows=habilitation_rows(partenaire.id),
        progress=_review_progress(partenaire),
        pending_requests=db.session.scalars(
            select(GestionnaireRequest)
            .where(GestionnaireRequest.partenaire_id == partenaire.id,
                   GestionnaireRequest.caisse_id == current_user.caisse_id,
                   GestionnaireRequest.status == RequestStatus.PENDING)
            .order_by(GestionnaireRequest.deadline)
        ).all(),
        sites=[s for s in partenaire.sites if any(c.caisse_id == current_user.caisse_id for c in s.conventions)],
        row_errors={},
        action_form=ActionForm(formdata=None),
    )
    ctx["gestionnaire_form"] = forms.get("gestionnaire_form") or GestionnaireForm(prefix="g", formdata=None)
    ctx["suspend_form"] = forms.get("suspend_form") or ReasonForm(prefix="suspend", formdata=None)
    ctx["review_form"] = forms.get("review_form") or ReviewForm(
        prefix="review", formdata=None, data={"deadline": today() + timedelta(days=30)})
    # A refusal for a form the page no longer shows (convention ended, partner
    # suspended, review opened meanwhile) goes to the top of the page.
    progress = ctx["progress"]
    shown = {
        "gestionnaire_form": ctx["in_force"],
        "suspend_form": ctx["in_force"] and not partenaire.is_suspended,
        "review_form": ctx["in_force"] and not (progress and progress.review.completed_at is None),
    }
    refusals: list[str] = []
    for name, form in forms.items():
        if shown.get(name, True):
            continue
        for message in list(form.form_errors) + [e for errs in form.errors.values() for e in errs]:
            if isinstance(message, str) and message not in refusals:
                refusals.append(message)
    ctx["refusals"] = refusals
    return render_template("caisse/partenaire.html", **ctx), status


@bp.get("/partenaires/<int:partenaire_id>")
@admin_required
def partenaire(partenaire_id: int):
    return _render_partenaire(get_partenaire_or_404(partenaire_id))


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
    form.set_parents([] if p.sites else _parent_choices(exclude_id=p.id))
    if form.validate_on_submit():
        try:
            changed = update_partenaire(_actor(), p, form.partenaire_data())
        except DomainError as exc:
            status = _refused(form, exc)
            return render_template("caisse/partenaire_edit.html", form=form, partenaire=p), status
        commit()
        flash("Fiche de la structure enregistrée." if changed else "Aucune modification.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id), 303)
    return render_template("caisse/partenaire_edit.html", form=form, partenaire=p), _page_status(form)


# ---------------------------------------------------------------- conventions

@bp.route("/partenaires/<int:partenaire_id>/conventions/nouvelle", methods=["GET", "POST"])
@admin_required
def new_convention(partenaire_id: int):
    """A new convention with a partner the caisse already knows (after an end)."""
    p = get_partenaire_or_404(partenaire_id)
    form = ConventionForm()
    if not form.is_submitted():
        form.signed_on.data = today()
    if form.validate_on_submit():
        try:
            create_convention(_actor(), p, **form.convention_data())
        except DomainError as exc:
            status = _refused(form, exc)
            return render_template("caisse/convention_new.html", form=form, partenaire=p), status
        commit()
        flash("Convention enregistrée.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions"), 303)
    return render_template("caisse/convention_new.html", form=form, partenaire=p), _page_status(form)


@bp.route("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/services", methods=["GET", "POST"])
@admin_required
def convention_services(partenaire_id: int, convention_id: int):
    p = get_partenaire_or_404(partenaire_id)
    conv = _partner_convention_or_404(p, convention_id)
    form = ServicesForm() if request.method == "POST" else ServicesForm(data={"services": list(conv.services or [])})
    if form.validate_on_submit():
        try:
            set_services(_actor(), conv, form.services.data or [])
        except DomainError as exc:
            status = _refused(form, exc)
            return render_template("caisse/convention_services.html", form=form, partenaire=p, convention=conv), status
        commit()
        flash("Services de la convention enregistrés.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions"), 303)
    return (render_template("caisse/convention_services.html", form=form, partenaire=p, convention=conv),
            _page_status(form))


def _convention_action(partenaire_id: int, convention_id: int, action, success: str):
    p = get_partenaire_or_404(partenaire_id)
    conv = _partner_convention_or_404(p, convention_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        action(_actor(), conv)
    except DomainError as exc:
        rollback()
        flash(exc.message, "error")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions"), 303)
    commit()
    flash(success.format(ends_on=conv.ends_on.strftime("%d/%m/%Y")), "success")
    return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions"), 303)


@bp.post("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/renouveler")
@admin_required
def renew_convention(partenaire_id: int, convention_id: int):
    return _convention_action(partenaire_id, convention_id, renew,
                              "Convention renouvelée jusqu'au {ends_on}.")


@bp.post("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/denoncer")
@admin_required
def denounce_convention(partenaire_id: int, convention_id: int):
    return _convention_action(partenaire_id, convention_id, denounce,
                              "Convention dénoncée : elle prendra fin le {ends_on}, sans reconduction.")


@bp.route("/partenaires/<int:partenaire_id>/conventions/<int:convention_id>/fin", methods=["GET", "POST"])
@admin_required
def end_convention(partenaire_id: int, convention_id: int):
    """SPEC §3 end of convention: with no other convention in force, every
    account of the partner is inactivated (the domain applies it)."""
    p = get_partenaire_or_404(partenaire_id)
    conv = _partner_convention_or_404(p, convention_id)
    form = EndConventionForm()
    ctx = {"form": form, "partenaire": p, "convention": conv,
           "other_conventions": [c for c in conventions_in_force(p.id) if c.id != conv.id]}
    if form.validate_on_submit():
        try:
            count = terminate(_actor(), conv, resiliation=form.mode.data == "resiliee", reason=form.reason.data.strip())
        except DomainError as exc:
            status = _refused(form, exc)
            return render_template("caisse/convention_end.html", **ctx), status
        commit()
        message = f"Convention {conv.state.label.lower()}."
        if count:
            message += f" La structure n'a plus de convention en cours : {count} compte(s) inactivé(s)."
        flash(message, "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="conventions"), 303)
    return render_template("caisse/convention_end.html", **ctx), _page_status(form)


# ---------------------------------------------------------------- suspension, review

@bp.post("/partenaires/<int:partenaire_id>/suspendre")
@admin_required
def suspend_partenaire(partenaire_id: int):
    """SPEC §3 [4.1]: the whole partner's access is suspended, sessions end."""
    p = get_partenaire_or_404(partenaire_id)
    form = ReasonForm(prefix="suspend")
    if form.validate_on_submit():
        try:
            suspend(_actor(), p, form.reason.data)
        except DomainError as exc:
            return _render_partenaire(p, _refused(form, exc), suspend_form=form)
        commit()
        flash("L'accès de la structure est suspendu : ses utilisateurs sont déconnectés.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id), 303)
    return _render_partenaire(p, 422, suspend_form=form)


@bp.post("/partenaires/<int:partenaire_id>/lever-suspension")
@admin_required
def unsuspend_partenaire(partenaire_id: int):
    p = get_partenaire_or_404(partenaire_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        unsuspend(_actor(), p)
    except DomainError as exc:
        rollback()
        flash(exc.message, "error")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id), 303)
    commit()
    flash("La suspension est levée : les utilisateurs de la structure peuvent se reconnecter.", "success")
    return redirect(url_for("caisse.partenaire", partenaire_id=p.id), 303)


@bp.post("/partenaires/<int:partenaire_id>/revue")
@admin_required
def open_review_campaign(partenaire_id: int):
    """SPEC §3 [4.2]: a review campaign with a deadline."""
    p = get_partenaire_or_404(partenaire_id)
    form = ReviewForm(prefix="review")
    if form.validate_on_submit():
        try:
            open_review(_actor(), p, form.deadline.data)
        except DomainError as exc:
            return _render_partenaire(p, _refused(form, exc), review_form=form)
        commit()
        flash("Revue des habilitations ouverte : les gestionnaires sont prévenus par e-mail.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="revue"), 303)
    return _render_partenaire(p, 422, review_form=form)


# ---------------------------------------------------------------- partner accounts

@bp.post("/partenaires/<int:partenaire_id>/gestionnaires")
@admin_required
def create_gestionnaire_account(partenaire_id: int):
    """SPEC §3: the caisse creates a gestionnaire, within quota; the activation
    e-mail leaves after the commit."""
    p = get_partenaire_or_404(partenaire_id)
    form = GestionnaireForm(prefix="g")
    if form.validate_on_submit():
        try:
            account = create_gestionnaire(_actor(), p, form.identity())
        except DomainError as exc:
            return _render_partenaire(p, _refused(form, exc), gestionnaire_form=form)
        commit()
        flash(f"Compte gestionnaire créé pour {account.full_name} (identifiant {account.login}) : "
              f"un e-mail d'activation est envoyé à {account.email}.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)
    return _render_partenaire(p, 422, gestionnaire_form=form)


def _render_gestionnaire(p: Partenaire, account: Account, form, schedule_form, status: int = 200):
    return render_template("caisse/gestionnaire.html", partenaire=p, account=account, form=form,
                           schedule_form=schedule_form, in_force=caisse_in_force(current_user.caisse_id, p.id)), status


@bp.route("/partenaires/<int:partenaire_id>/gestionnaires/<int:account_id>", methods=["GET", "POST"])
@admin_required
def gestionnaire(partenaire_id: int, account_id: int):
    """SPEC §3 [2.2.2]: only the caisse modifies a gestionnaire's data."""
    p = get_partenaire_or_404(partenaire_id)
    account = _partner_account_or_404(p, account_id, Profile.GESTIONNAIRE)
    if request.method == "POST":
        form = GestionnaireForm(prefix="g")
    else:
        form = GestionnaireForm(prefix="g", data={k: getattr(account, k) for k in
                                                  ("civilite", "nom", "prenom", "fonction", "telephone", "email")})
    schedule_form = ScheduleForm(prefix="s", formdata=None, data={"on": account.scheduled_inactivation_on})
    if form.validate_on_submit():
        try:
            changed = modify_gestionnaire(_actor(), account, form.identity())
        except DomainError as exc:
            return _render_gestionnaire(p, account, form, schedule_form, _refused(form, exc))
        commit()
        flash("Compte gestionnaire modifié." if changed else "Aucune modification.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)
    return _render_gestionnaire(p, account, form, schedule_form, _page_status(form))


@bp.post("/partenaires/<int:partenaire_id>/gestionnaires/<int:account_id>/inactivation-programmee")
@admin_required
def schedule_inactivation(partenaire_id: int, account_id: int):
    """SPEC §3 [2.2.3]: the caisse inactivates a leaving gestionnaire on a date."""
    p = get_partenaire_or_404(partenaire_id)
    account = _partner_account_or_404(p, account_id, Profile.GESTIONNAIRE)
    form = GestionnaireForm(prefix="g", formdata=None, data={k: getattr(account, k) for k in
                                                             ("civilite", "nom", "prenom", "fonction", "telephone",
                                                              "email")})
    schedule_form = ScheduleForm(prefix="s")
    if schedule_form.validate_on_submit():
        try:
            schedule_gestionnaire_inactivation(_actor(), account, schedule_form.on.data)
        except DomainError as exc:
            return _render_gestionnaire(p, account, form, schedule_form, _refused(schedule_form, exc))
        commit()
        if account.status == AccountStatus.INACTIVE:
            flash(f"Le compte de {account.full_name} est inactivé.", "success")
        else:
            flash(f"Inactivation de {account.full_name} programmée le "
                  f"{account.scheduled_inactivation_on.strftime('%d/%m/%Y')}.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)
    return _render_gestionnaire(p, account, form, schedule_form, 422)


def _row_for(p: Partenaire, account: Account):
    return next(r for r in habilitation_rows(p.id) if r.account.id == account.id)


def _account_row_response(p: Partenaire, account: Account, status: int = 200, **extra):
    ctx = _partenaire_context(p)
    ctx.update(row=_row_for(p, account), action_form=ActionForm(formdata=None), row_errors={})
    ctx.update(extra)
    return render_fragments(("caisse/_account_row.html", ctx), ("caisse/_quotas.html", {**ctx, "oob": True}),
                            status=status)


@bp.route("/partenaires/<int:partenaire_id>/comptes/<int:account_id>/inactiver", methods=["GET", "POST"])
@admin_required
def inactivate_account(partenaire_id: int, account_id: int):
    """SPEC §3 [4.1]: the caisse inactivates a partner account at once (fraud,
    loss, theft), with a reason; its sessions end; gestionnaires are notified."""
    p = get_partenaire_or_404(partenaire_id)
    account = _partner_account_or_404(p, account_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            inactivate(account, actor=_actor(), reason=form.reason.data or "")
        except DomainError as exc:
            status = _refused(form, exc)
            if is_partial():
                return _account_row_response(p, account, status, row_errors={
                    account.id: {"message": (form.reason.errors or form.form_errors)[0], "reason": form.reason.data}})
            return render_template("caisse/account_inactivate.html", form=form, partenaire=p, account=account,
                                   back=url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes")), status
        commit()
        if is_partial():
            return _account_row_response(p, account, notice="Compte inactivé.")
        flash(f"Le compte de {account.full_name} est inactivé.", "success")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)
    return render_template("caisse/account_inactivate.html", form=form, partenaire=p, account=account,
                           back=url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes")), _page_status(form)


@bp.post("/partenaires/<int:partenaire_id>/comptes/<int:account_id>/lien-activation")
@admin_required
def resend_partner_activation(partenaire_id: int, account_id: int):
    p = get_partenaire_or_404(partenaire_id)
    account = _partner_account_or_404(p, account_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        resend_activation(_actor(), account)
    except DomainError as exc:
        rollback()
        if is_partial():
            return _account_row_response(p, account, 403 if isinstance(exc, NotAllowed) else 422,
                                         row_errors={account.id: {"message": exc.message, "reason": ""}})
        flash(exc.message, "error")
        return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)
    commit()
    if is_partial():
        return _account_row_response(p, account, notice=f"Lien d'activation renvoyé à {account.email}.")
    flash(f"Un nouveau lien d'activation est envoyé à {account.email}.", "success")
    return redirect(url_for("caisse.partenaire", partenaire_id=p.id, _anchor="comptes"), 303)


# ---------------------------------------------------------------- partner requests

@bp.get("/demandes")
@admin_required
def requests():
    handled = db.session.scalars(
        select(GestionnaireRequest)
        .where(GestionnaireRequest.caisse_id == current_user.caisse_id,
               GestionnaireRequest.status != RequestStatus.PENDING)
        .order_by(GestionnaireRequest.handled_at.desc(), GestionnaireRequest.id.desc())
        .limit(20)
    ).all()
    return render_template("caisse/requests.html", pending=pending_for_caisse(current_user.caisse_id),
                           handled=handled, on=today())


def _identity_of(account: Account | None) -> dict:
    if account is None:
        return {}
    return {k: getattr(account, k) for k in ("civilite", "nom", "prenom", "fonction", "telephone", "email")}


def _render_request(req: GestionnaireRequest, form=None, refuse_form=None, status: int = 200):
    needs_identity = req.kind in (RequestKind.CREATION, RequestKind.MODIFICATION)
    if form is None and needs_identity:
        form = GestionnaireForm(prefix="g", formdata=None, data=req.payload or {})
    if form is None:
        form = ActionForm(formdata=None)
    seats = _seats(req.partenaire)
    return render_template(
        "caisse/request.html", req=req, form=form, needs_identity=needs_identity,
        refuse_form=refuse_form or RefuseForm(prefix="r", formdata=None),
        current=_identity_of(req.target), seats=seats, on=today(),
        in_force=caisse_in_force(req.caisse_id, req.partenaire_id),
    ), status


@bp.get("/demandes/<int:request_id>")
@admin_required
def request_detail(request_id: int):
    return _render_request(get_request_or_404(request_id))


@bp.post("/demandes/<int:request_id>/accepter")
@admin_required
def accept(request_id: int):
    """Carry the request out (the caisse may correct the partner's data)."""
    req = get_request_or_404(request_id)
    identity = req.kind in (RequestKind.CREATION, RequestKind.MODIFICATION)
    form = GestionnaireForm(prefix="g") if identity else ActionForm()
    if form.validate_on_submit():
        try:
            account = accept_request(_actor(), req, form.identity() if identity else None)
        except DomainError as exc:
            return _render_request(req, form=form, status=_refused(form, exc))
        commit()
        if req.kind == RequestKind.CREATION:
            message = (f"Compte gestionnaire créé pour {account.full_name} (identifiant {account.login}) : "
                       f"un e-mail d'activation est envoyé à {account.email}.")
        elif req.kind == RequestKind.MODIFICATION:
            message = f"Compte de {account.full_name} modifié."
        elif account.status == AccountStatus.INACTIVE:
            message = f"Le compte de {account.full_name} est inactivé."
        else:
            message = (f"Inactivation de {account.full_name} programmée le "
                       f"{account.scheduled_inactivation_on.strftime('%d/%m/%Y')}.")
        flash(message + " Le partenaire est prévenu par e-mail.", "success")
        return redirect(url_for("caisse.requests"), 303)
    return _render_request(req, form=form, status=422)


@bp.post("/demandes/<int:request_id>/refuser")
@admin_required
def refuse(request_id: int):
    req = get_request_or_404(request_id)
    refuse_form = RefuseForm(prefix="r")
    if refuse_form.validate_on_submit():
        try:
            refuse_request(_actor(), req, refuse_form.response.data or "")
        except DomainError as exc:
            return _render_request(req, refuse_form=refuse_form, status=_refused(refuse_form, exc))
        commit()
        flash("Demande refusée : le partenaire est prévenu par e-mail, avec le motif.", "success")
        return redirect(url_for("caisse.requests"), 303)
    return _render_request(req, refuse_form=refuse_form, status=422)


# ---------------------------------------------------------------- agents

def _agents() -> list[Account]:
    return db.session.scalars(
        select(Account)
        .where(Account.caisse_id == current_user.caisse_id, Account.profile == Profile.AGENT,
               Account.status != AccountStatus.DELETED)
        .order_by(Account.status != AccountStatus.ACTIVE, Account.nom, Account.prenom)
    ).all()


def _render_agents(form, status: int = 200):
    return render_template("caisse/agents.html", agents=_agents(), form=form, row_errors={},
                           action_form=ActionForm(formdata=None)), status


@bp.route("/agents", methods=["GET", "POST"])
@admin_required
def agents():
    form = AgentForm(prefix="a")
    if form.validate_on_submit():
        actor = _actor()
        try:
            account = create_caisse_account(actor, actor.caisse, Profile.AGENT, form.identity())
        except DomainError as exc:
            return _render_agents(form, _refused(form, exc))
        commit()
        flash(f"Compte agent créé pour {account.full_name} (identifiant {account.login}) : "
              f"un e-mail d'activation est envoyé à {account.email}.", "success")
        return redirect(url_for("caisse.agents"), 303)
    return _render_agents(form, _page_status(form))


def _agent_row_response(account: Account, status: int = 200, **extra):
    ctx = {"agent": account, "action_form": ActionForm(formdata=None), "row_errors": {}, **extra}
    return render_fragments(("caisse/_agent_row.html", ctx), status=status)


@bp.route("/agents/<int:account_id>/inactiver", methods=["GET", "POST"])
@admin_required
def inactivate_agent(account_id: int):
    account = get_account_or_404(account_id, Profile.AGENT)
    form = ReasonForm()
    back = url_for("caisse.agents")
    if form.validate_on_submit():
        try:
            inactivate(account, actor=_actor(), reason=form.reason.data or "")
        except DomainError as exc:
            status = _refused(form, exc)
            if is_partial():
                return _agent_row_response(account, status, row_errors={
                    account.id: {"message": (form.reason.errors or form.form_errors)[0], "reason": form.reason.data}})
            return render_template("caisse/account_inactivate.html", form=form, partenaire=None, account=account,
                                   back=back), status
        commit()
        if is_partial():
            return _agent_row_response(account, notice="Compte inactivé.")
        flash(f"Le compte de {account.full_name} est inactivé.", "success")
        return redirect(back, 303)
    return render_template("caisse/account_inactivate.html", form=form, partenaire=None, account=account,
                           back=back), _page_status(form)


@bp.post("/agents/<int:account_id>/lien-activation")
@admin_required
def resend_agent_activation(account_id: int):
    account = get_account_or_404(account_id, Profile.AGENT)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        resend_activation(_actor(), account)
    except DomainError as exc:
        rollback()
        if is_partial():
            return _agent_row_response(account, 422, row_errors={account.id: {"message": exc.message, "reason": ""}})
        flash(exc.message, "error")
        return redirect(url_for("caisse.agents"), 303)
    commit()
    if is_partial():
        return _agent_row_response(account, notice=f"Lien d'activation renvoyé à {account.email}.")
    flash(f"Un nouveau lien d'activation est envoyé à {account.email}.", "success")
    return redirect(url_for("caisse.agents"), 303)


# ---------------------------------------------------------------- audit log

@bp.get("/journal")
@admin_required
def audit():
    from ep_web.audit_search import audit_page

    return audit_page(caisse_id=current_user.caisse_id)
