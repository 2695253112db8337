"""The gestionnaire area (SPEC §3): the partner's techniciens, requests to the
caisse about gestionnaires, the habilitation table and its review.

Routes stay thin: validate the form, load and authorize, call one domain
function, commit once, then answer a page (303 after success) or, for htmx, the
fragment that changed plus the out-of-band regions it affects."""
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ep_web import exports
from ep_web.clock import today
from ep_web.domain import accounts as account_rules
from ep_web.domain.access import conventions_in_force
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.habilitations import HEADERS, habilitation_rows
from ep_web.domain.quotas import limit, seats_used
from ep_web.domain.requests import INACTIVATION_NOTICE_DAYS, file_request
from ep_web.domain.reviews import answer_item, open_review_for
from ep_web.extensions import db
from ep_web.forms import attach_error
from ep_web.gestion.forms import (
    ActionForm,
    CreationRequestForm,
    InactivateForm,
    InactivationRequestForm,
    MisuseForm,
    ModificationRequestForm,
    ReviewAnswerForm,
    TechnicienForm,
)
from ep_web.htmx import is_partial, render_fragments
from ep_web.models import (
    SEAT_STATUSES,
    Account,
    Caisse,
    GestionnaireRequest,
    Profile,
    RequestKind,
    ReviewDecision,
    ReviewItem,
)
from ep_web.permissions import get_account_or_404, get_review_or_404, profile_required
from ep_web.transaction import commit, rollback

bp = Blueprint("gestion", __name__, url_prefix="/gestion")


def _me() -> Account:
    return current_user._get_current_object()


def _name_of(account_id: int | None) -> str:
    """Display name of a related account (creator, manager), "" when none."""
    if not account_id:
        return ""
    account = db.session.get(Account, account_id)
    return account.full_name if account is not None else ""


@bp.context_processor
def _helpers():
    return {"name_of": _name_of}


def _quota() -> dict:
    partenaire = _me().partenaire
    used = seats_used(partenaire.id, Profile.TECHNICIEN)
    cap = limit(partenaire, Profile.TECHNICIEN)
    return {"used": used, "cap": cap, "members": partenaire.members, "full": used >= cap}


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "La demande n'a pas pu être traitée."


# ---------------------------------------------------------------- techniciens

def _render_index(form: TechnicienForm | None = None, row_state: dict | None = None, status: int = 200):
    me = _me()
    rows = habilitation_rows(me.partenaire_id)
    conventions = sorted(conventions_in_force(me.partenaire_id), key=lambda c: c.caisse.name)
    return render_template(
        "gestion/index.html",
        partenaire=me.partenaire,
        techniciens=[r.account for r in rows if r.account.profile == Profile.TECHNICIEN],
        gestionnaires=[r.account for r in rows if r.account.profile == Profile.GESTIONNAIRE],
        conventions=conventions,
        quota=_quota(),
        form=form or TechnicienForm(formdata=None),
        row_state=row_state,
    ), status


@bp.get("/")
@profile_required(Profile.GESTIONNAIRE)
def index():
    return _render_index()


@bp.post("/techniciens")
@profile_required(Profile.GESTIONNAIRE)
def create_technicien():
    form = TechnicienForm()
    if form.validate_on_submit():
        try:
            account = account_rules.create_technicien(_me(), form.identity())
        except NotAllowed:
            rollback()
            abort(403)
        except DomainError as exc:
            rollback()
            attach_error(form, exc)
        else:
            commit()
            message = (f"Le compte de {account.full_name} est créé : un e-mail lui a été envoyé à {account.email} "
                       f"pour choisir son mot de passe.")
            if is_partial():
                return render_fragments(
                    ("gestion/_technicien_form.html", {"form": TechnicienForm(formdata=None), "success": message}),
                    ("gestion/_technicien_added.html", {"t": account}),
                    ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
                )
            flash(message, "success")
            return redirect(url_for("gestion.index"), 303)
    if is_partial():
        return render_fragments(("gestion/_technicien_form.html", {"form": form}), status=422)
    return _render_index(form=form, status=422)


def _row_action(account: Account, action: str, form, operation, success: str):
    """Run one domain operation on a technicien row; answer the swapped row (plus
    the quota counter and a notice, out of band) for htmx, or the page."""
    error = None
    if form.validate_on_submit():
        try:
            operation()
        except NotAllowed:
            rollback()
            abort(403)
        except DomainError as exc:
            rollback()
            error = exc.message
        else:
            commit()
            if is_partial():
                return render_fragments(
                    ("gestion/_technicien_row.html", {"t": account, "state": None}),
                    ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
                    ("gestion/_notice.html", {"message": success}),
                )
            flash(success, "success")
            return redirect(url_for("gestion.index"), 303)
    else:
        error = _first_error(form)
    reason = form.reason.data if hasattr(form, "reason") else ""
    state = {"id": account.id, "action": action, "error": error, "reason": reason or ""}
    if is_partial():
        return render_fragments(
            ("gestion/_technicien_row.html", {"t": account, "state": state}),
            ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
            status=422,
        )
    return _render_index(row_state=state, status=422)


@bp.post("/techniciens/<int:account_id>/inactiver")
@profile_required(Profile.GESTIONNAIRE)
def inactivate_technicien(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    form = InactivateForm()
    return _row_action(
        account, "inactivate", form,
        lambda: account_rules.inactivate(account, actor=_me(), reason=form.reason.data or ""),
        f"Le compte de {account.full_name} est inactivé : ses sessions sont fermées.",
    )


@bp.post("/techniciens/<int:account_id>/reactiver")
@profile_required(Profile.GESTIONNAIRE)
def reactivate_technicien(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    return _row_action(
        account, "reactivate", ActionForm(),
        lambda: account_rules.reactivate_technicien(_me(), account),
        f"Le compte de {account.full_name} est réactivé.",
    )


@bp.post("/techniciens/<int:account_id>/signaler")
@profile_required(Profile.GESTIONNAIRE)
def report_misuse(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    form = MisuseForm()
    return _row_action(
        account, "misuse", form,
        lambda: account_rules.report_misuse(_me(), account, form.reason.data or ""),
        f"Le compte de {account.full_name} est inactivé et la caisse est prévenue de l'usage frauduleux.",
    )


@bp.post("/techniciens/<int:account_id>/lien-activation")
@profile_required(Profile.GESTIONNAIRE)
def resend_activation(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    return _row_action(
        account, "resend", ActionForm(),
        lambda: account_rules.resend_activation(_me(), account),
        f"Un nouveau lien d'activation a été envoyé à {account.email}.",
    )


# ---------------------------------------------------------------- requests to the caisse

def _partner_gestionnaires() -> list[Account]:
    """The partner's gestionnaires that hold a seat (active or not yet activated)."""
    return [
        r.account for r in habilitation_rows(_me().partenaire_id)
        if r.account.profile == Profile.GESTIONNAIRE and r.account.status in SEAT_STATUSES
    ]


def _render_requests(creation=None, modification=None, inactivation=None, target=None, status=200):
    me = _me()
    conventions = conventions_in_force(me.partenaire_id)
    gestionnaires = _partner_gestionnaires()
    creation = creation or CreationRequestForm(formdata=None, prefix="creation")
    inactivation = inactivation or InactivationRequestForm(formdata=None, prefix="inactivation")
    for form in (creation, modification, inactivation):
        if form is not None:
            form.set_caisses(conventions)
    inactivation.set_targets(gestionnaires)
    filed = db.session.scalars(
        select(GestionnaireRequest)
        .where(GestionnaireRequest.partenaire_id == me.partenaire_id)
        .order_by(GestionnaireRequest.created_at.desc(), GestionnaireRequest.id.desc())
    ).all()
    return render_template(
        "gestion/requests.html",
        partenaire=me.partenaire,
        conventions=sorted(conventions, key=lambda c: c.caisse.name),
        gestionnaires=gestionnaires,
        creation=creation,
        modification=modification,
        inactivation=inactivation,
        target=target,
        filed=filed,
        notice_days=INACTIVATION_NOTICE_DAYS,
        earliest=today() + timedelta(days=INACTIVATION_NOTICE_DAYS),
    ), status


def _caisse_from(form) -> Caisse | None:
    caisse = db.session.get(Caisse, form.caisse_id.data) if form.caisse_id.data else None
    if caisse is None:
        form.caisse_id.errors = list(form.caisse_id.errors or []) + ["Choisissez la caisse destinataire."]
    return caisse


def _file(form, kind: RequestKind, **kwargs):
    """File the request; returns True when done (committed), False on refusal."""
    caisse = _caisse_from(form)
    if caisse is None:
        return False
    try:
        file_request(_me(), caisse, kind, comment=form.comment.data or "", **kwargs)
    except NotAllowed:
        rollback()
        abort(403)
    except DomainError as exc:
        rollback()
        attach_error(form, exc)
        return False
    commit()
    return True


def _filed_message() -> str:
    return "Votre demande est transmise à la caisse, qui doit la traiter sous 5 jours ouvrés."


@bp.get("/demandes")
@profile_required(Profile.GESTIONNAIRE)
def requests():
    return _render_requests()


@bp.post("/demandes/nouveau-gestionnaire")
@profile_required(Profile.GESTIONNAIRE)
def request_creation():
    form = CreationRequestForm(prefix="creation")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    if form.validate_on_submit() and _file(form, RequestKind.CREATION, data=form.identity()):
        flash(_filed_message(), "success")
        return redirect(url_for("gestion.requests"), 303)
    return _render_requests(creation=form, status=422)


def _modification_form_for(target: Account) -> ModificationRequestForm:
    """The modification form pre-filled with the gestionnaire's current data."""
    form = ModificationRequestForm(formdata=None, prefix="modification", data={
        "target_id": str(target.id), **{k: getattr(target, k) for k in account_rules.IDENTITY_FIELDS}})
    return form


def _gestionnaire_or_404(raw_id) -> Account:
    try:
        wanted = int(raw_id)
    except (TypeError, ValueError):
        abort(404)
    for g in _partner_gestionnaires():
        if g.id == wanted:
            return g
    abort(404)


@bp.get("/demandes/modification")
@profile_required(Profile.GESTIONNAIRE)
def request_modification_form():
    """Step 1 of a modification: choose the gestionnaire, get its data pre-filled.
    htmx swaps just the modification section; without JS the whole page comes back."""
    raw = request.args.get("gestionnaire", "")
    target = _gestionnaire_or_404(raw) if raw else None
    form = _modification_form_for(target) if target else None
    if is_partial():
        if form is not None:
            form.set_caisses(conventions_in_force(_me().partenaire_id))
        return render_fragments(("gestion/_request_modification.html", {
            "modification": form, "target": target, "gestionnaires": _partner_gestionnaires()}))
    return _render_requests(modification=form, target=target)


@bp.post("/demandes/modification")
@profile_required(Profile.GESTIONNAIRE)
def request_modification():
    form = ModificationRequestForm(prefix="modification")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    target = None
    try:
        target = next((g for g in _partner_gestionnaires() if g.id == int(form.target_id.data or 0)), None)
    except ValueError:
        pass
    if form.validate_on_submit() and _file(form, RequestKind.MODIFICATION, data=form.identity(),
                                           target_id=form.target_id.data):
        flash(_filed_message(), "success")
        return redirect(url_for("gestion.requests"), 303)
    return _render_requests(modification=form, target=target, status=422)


@bp.post("/demandes/inactivation")
@profile_required(Profile.GESTIONNAIRE)
def request_inactivation():
    form = InactivationRequestForm(prefix="inactivation")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    form.set_targets(_partner_gestionnaires())
    if form.validate_on_submit() and _file(form, RequestKind.INACTIVATION, target_id=form.target_id.data,
                                           wished_date=form.wished_date.data):
        flash(_filed_message(), "success")
        return redirect(url_for("gestion.requests"), 303)
    return _render_requests(inactivation=form, status=422)


# ---------------------------------------------------------------- habilitations

def _review_context(review) -> dict:
    if review is None:
        return {"review": None, "items": [], "remaining": 0}
    items = sorted(review.items, key=lambda i: (i.account.profile != Profile.GESTIONNAIRE,
                                                i.account.nom.lower(), i.account.prenom.lower()))
    return {"review": review, "items": items, "remaining": sum(1 for i in items if i.decision is None)}


def _render_habilitations(item_state: dict | None = None, status: int = 200):
    me = _me()
    return render_template(
        "gestion/habilitations.html",
        partenaire=me.partenaire,
        rows=habilitation_rows(me.partenaire_id),
        headers=HEADERS,
        item_state=item_state,
        **_review_context(open_review_for(me.partenaire_id)),
    ), status


@bp.get("/habilitations")
@profile_required(Profile.GESTIONNAIRE)
def habilitations():
    return _render_habilitations()


@bp.get("/habilitations.<any(csv, xlsx):fmt>")
@profile_required(Profile.GESTIONNAIRE)
def habilitations_export(fmt: str):
    """SPEC §3 [4.2]: the up-to-date table, as a file; SPEC §7: the export is audited."""
    me = _me()
    rows = habilitation_rows(me.partenaire_id)
    response = exports.export_response(
        fmt,
        stem=f"habilitations-{me.partenaire.name}",
        headers=HEADERS,
        rows=[r.columns for r in rows],
        actor=me,
        what="habilitations",
        sheet_title="Habilitations",
        partenaire_id=me.partenaire_id,
    )
    commit()
    return response


def _item_or_404(item_id: int) -> ReviewItem:
    item = db.session.get(ReviewItem, item_id)
    if item is None:
        abort(404)
    get_review_or_404(item.review_id)
    return item


@bp.post("/habilitations/revue/<int:item_id>")
@profile_required(Profile.GESTIONNAIRE)
def answer_review(item_id: int):
    """SPEC §3 [4.2]: confirm or inactivate one account of the open review."""
    item = _item_or_404(item_id)
    form = ReviewAnswerForm()
    error = None
    if form.validate_on_submit():
        try:
            decision = ReviewDecision(form.decision.data)
        except ValueError:
            abort(400)
        try:
            answer_item(_me(), item, decision, form.reason.data or "")
        except NotAllowed:
            rollback()
            abort(403)
        except DomainError as exc:
            rollback()
            error = exc.message
        else:
            commit()
            account = item.account
            if decision == ReviewDecision.CONFIRMED:
                message = f"Habilitation de {account.full_name} confirmée."
            else:
                message = f"Le compte de {account.full_name} est inactivé."
            if item.review.completed_at is not None:
                message += " La revue des habilitations est terminée : merci."
            if is_partial():
                review = item.review
                return render_fragments(
                    ("gestion/_review_row.html", {"item": item, "state": None, "review": review}),
                    ("gestion/_habilitation_row.html", {"row": _habilitation_row(account), "oob": True}),
                    ("gestion/_review_status.html", {**_review_context(review), "oob": True}),
                    ("gestion/_notice.html", {"message": message}),
                )
            flash(message, "success")
            return redirect(url_for("gestion.habilitations"), 303)
    else:
        error = _first_error(form)
    state = {"id": item.id, "error": error, "reason": form.reason.data or ""}
    if is_partial():
        return render_fragments(("gestion/_review_row.html", {"item": item, "state": state, "review": item.review}),
                                status=422)
    return _render_habilitations(item_state=state, status=422)


def _habilitation_row(account: Account):
    return next(r for r in habilitation_rows(account.partenaire_id) if r.account.id == account.id)
