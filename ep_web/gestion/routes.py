"""The gestionnaire area (SPEC §3): the partner's techniciens, requests to the
caisse about gestionnaires, the habilitation table and its review.

Routes stay thin: load and authorize (ep_web.permissions), then hand one domain
call to ep_web.actions.run, which commits once and answers a page (303 after
success) or, for htmx, the fragment that changed plus the out-of-band regions it
affects; 422 with the message in place, 403 with the domain's message."""
from datetime import timedelta

from flask import Blueprint, make_response, render_template, request, url_for
from flask_login import current_user

from ep_web import exports
from ep_web.actions import first_error, run
from ep_web.auth.reauth import recent_auth_required
from ep_web.clock import today
from ep_web.confirm import ask
from ep_web.domain import accounts as account_rules
from ep_web.domain import notifications, quotas, reviews
from ep_web.domain.access import conventions_in_force
from ep_web.domain.habilitations import HEADERS, habilitation_rows, row_for
from ep_web.domain.requests import INACTIVATION_NOTICE_DAYS, file_request_to, filed_by
from ep_web.gestion.forms import (
    ActionForm,
    CreationRequestForm,
    InactivateForm,
    InactivationRequestForm,
    MailboxForm,
    MisuseForm,
    ModificationRequestForm,
    ReviewAnswerForm,
    TechnicienForm,
)
from ep_web.htmx import is_partial, render_fragments
from ep_web.models import Account, Profile, RequestKind, ReviewDecision, ReviewItem
from ep_web.permissions import get_account_or_404, profile_required
from ep_web.permissions.partenaires import (
    get_partner_gestionnaire_or_404,
    get_review_item_or_404,
    partner_gestionnaire,
)
from ep_web.transaction import commit

bp = Blueprint("gestion", __name__, url_prefix="/gestion")

gestionnaire_required = profile_required(Profile.GESTIONNAIRE)


def _me() -> Account:
    return current_user._get_current_object()


@bp.context_processor
def _helpers():
    return {"name_of": account_rules.full_name_of, "handover_candidates": account_rules.handover_candidates}


def _quota() -> quotas.Usage:
    return quotas.usage(_me().partenaire, Profile.TECHNICIEN)


def _page(template: str, status: int = 200, **context):
    return make_response(render_template(template, **context), status)


# ---------------------------------------------------------------- techniciens

def _render_index(form: TechnicienForm | None = None, row_state: dict | None = None, status: int = 200,
                  refusal: str | None = None):
    """``refusal``: the creation form's refusal tied to no field, announced in #flash
    and written at the top of the form (a row shows its own)."""
    me = _me()
    rows = habilitation_rows(me.partenaire_id)
    return _page(
        "gestion/index.html", status,
        partenaire=me.partenaire,
        techniciens=[r.account for r in rows if r.account.profile == Profile.TECHNICIEN],
        gestionnaires=[r.account for r in rows if r.account.profile == Profile.GESTIONNAIRE],
        conventions=sorted(conventions_in_force(me.partenaire_id), key=lambda c: c.caisse.name),
        quota=_quota(),
        form=form or TechnicienForm(formdata=None),
        row_state=row_state,
        refusal=refusal,
    )


@bp.get("/")
@gestionnaire_required
def index():
    return _render_index()


@bp.post("/techniciens")
@gestionnaire_required
@recent_auth_required
def create_technicien():
    """SPEC §3: any gestionnaire creates techniciens, within quota."""
    form = TechnicienForm()

    def render(status, refusal):
        if is_partial():
            return render_fragments(("gestion/_technicien_form.html", {"form": form, "refusal": refusal}),
                                    status=status)
        return _render_index(form=form, status=status, refusal=refusal)

    def created(account, message):
        return render_fragments(
            ("gestion/_technicien_form.html", {"form": TechnicienForm(formdata=None), "success": message}),
            ("gestion/_technicien_added.html", {"t": account}),
            ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
        )

    return run(lambda: account_rules.create_technicien(_me(), form.identity()), form=form, render=render,
               success=lambda account: (f"Le compte de {account.full_name} est créé : un e-mail lui a été envoyé "
                                        f"à {account.email} pour choisir son mot de passe."),
               then=url_for("gestion.index"), fragment=created)


def _on_technicien(account: Account, action: str, form, operation, success: str):
    """One action on a technicien's row: htmx gets the row again (the quota
    counter and the notice out of band); without JavaScript, the page. A refusal
    stays on the row, next to the action that was refused."""

    def render(status, refusal):
        reason = form.reason.data if hasattr(form, "reason") else ""
        state = {"id": account.id, "action": action, "error": first_error(form), "reason": reason or "",
                 "field": next((name for name, errors in form.errors.items() if errors), None),
                 "colleague_id": getattr(getattr(form, "colleague_id", None), "data", None)}
        if is_partial():
            return render_fragments(
                ("gestion/_technicien_row.html", {"t": account, "state": state}),
                ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
                status=status,
            )
        return _render_index(row_state=state, status=status)

    def done(_, message):
        return render_fragments(
            ("gestion/_technicien_row.html", {"t": account, "state": None}),
            ("gestion/_quota_counter.html", {"quota": _quota(), "oob": True}),
            ("gestion/_notice.html", {"message": message}),
        )

    return run(operation, form=form, render=render, success=success, then=url_for("gestion.index"), fragment=done)


@bp.post("/techniciens/<int:account_id>/inactiver")
@gestionnaire_required
def inactivate_technicien(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    form = InactivateForm()
    return _on_technicien(
        account, "inactivate", form,
        lambda: account_rules.inactivate_technicien(_me(), account, form.reason.data or "", form.colleague_id.data),
        f"Le compte de {account.full_name} est inactivé : ses sessions sont fermées.",
    )


@bp.post("/techniciens/<int:account_id>/rappel")
@gestionnaire_required
def remind_idle(account_id: int):
    """SPEC §3/§6: a one-click reminder to a technicien about to be inactivated for inactivity."""
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    return run(lambda: account_rules.remind_idle_technicien(_me(), account), form=ActionForm(),
               success=f"Un rappel est envoyé à {account.full_name}.", then=url_for("main.index"))


@bp.route("/boite-structure", methods=["GET", "POST"])
@gestionnaire_required
def mailbox():
    """SPEC §6: the structure's shared mailbox, told of every event on its demandes."""
    form = MailboxForm() if request.method == "POST" else MailboxForm(address=_me().partenaire.shared_mailbox)

    def render(status: int, refusal: str | None = None):
        return _page("gestion/mailbox.html", status, form=form, refusal=refusal)

    if request.method == "GET":
        return render(200)
    return run(lambda: notifications.set_shared_mailbox(_me(), form.address.data or ""), form=form, render=render,
               success=lambda address: (f"Les notifications des demandes de la structure seront aussi envoyées à "
                                        f"{address}." if address else "La structure n'a plus de boîte partagée."),
               then=url_for("main.index"))


@bp.post("/techniciens/<int:account_id>/reactiver")
@gestionnaire_required
def reactivate_technicien(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    return _on_technicien(
        account, "reactivate", ActionForm(),
        lambda: account_rules.reactivate_technicien(_me(), account),
        f"Le compte de {account.full_name} est réactivé.",
    )


@bp.post("/techniciens/<int:account_id>/signaler")
@gestionnaire_required
@recent_auth_required
def report_misuse(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    form = MisuseForm()
    if form.validate_on_submit():
        question = ask(f"Le compte de {account.full_name} sera inactivé tout de suite, ses sessions fermées, "
                       "et la caisse prévenue de l'usage frauduleux.",
                       title=f"Signaler un usage frauduleux du compte de {account.full_name}",
                       button="Signaler et inactiver", back=url_for("gestion.index"),
                       summary=[("Usage frauduleux constaté", form.reason.data or "")])
        if question is not None:
            return question
    return _on_technicien(
        account, "misuse", form,
        lambda: account_rules.report_misuse(_me(), account, form.reason.data or ""),
        f"Le compte de {account.full_name} est inactivé et la caisse est prévenue de l'usage frauduleux.",
    )


@bp.post("/techniciens/<int:account_id>/lien-activation")
@gestionnaire_required
def resend_activation(account_id: int):
    account = get_account_or_404(account_id, Profile.TECHNICIEN)
    return _on_technicien(
        account, "resend", ActionForm(),
        lambda: account_rules.resend_activation(_me(), account),
        f"Un nouveau lien d'activation a été envoyé à {account.email}.",
    )


# ---------------------------------------------------------------- requests to the caisse

def _render_requests(creation=None, modification=None, inactivation=None, target=None, status=200):
    me = _me()
    conventions = conventions_in_force(me.partenaire_id)
    gestionnaires = account_rules.seated_gestionnaires(me.partenaire_id)
    creation = creation or CreationRequestForm(formdata=None, prefix="creation")
    inactivation = inactivation or InactivationRequestForm(formdata=None, prefix="inactivation")
    for form in (creation, modification, inactivation):
        if form is not None:
            form.set_caisses(conventions)
    inactivation.set_targets(gestionnaires)
    return _page(
        "gestion/requests.html", status,
        partenaire=me.partenaire,
        conventions=sorted(conventions, key=lambda c: c.caisse.name),
        gestionnaires=gestionnaires,
        creation=creation,
        modification=modification,
        inactivation=inactivation,
        target=target,
        filed=filed_by(me.partenaire_id),
        notice_days=INACTIVATION_NOTICE_DAYS,
        earliest=today() + timedelta(days=INACTIVATION_NOTICE_DAYS),
    )


def _file_request(form, kind: RequestKind, render, **kwargs):
    """SPEC §3 [2.2.1-2.2.3]: file the request to the caisse chosen in the form."""
    return run(
        lambda: file_request_to(_me(), form.caisse_id.data, kind, comment=form.comment.data or "", **kwargs),
        form=form, render=render, then=url_for("gestion.requests"),
        success="Votre demande est transmise à la caisse, qui doit la traiter sous 5 jours ouvrés.",
    )


@bp.get("/demandes")
@gestionnaire_required
def requests():
    return _render_requests()


@bp.post("/demandes/nouveau-gestionnaire")
@gestionnaire_required
def request_creation():
    form = CreationRequestForm(prefix="creation")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    return _file_request(form, RequestKind.CREATION,
                         lambda status, refusal: _render_requests(creation=form, status=status),
                         data=form.identity())


def _modification_form_for(target: Account) -> ModificationRequestForm:
    """The modification form pre-filled with the gestionnaire's current data."""
    return ModificationRequestForm(formdata=None, prefix="modification", data={
        "target_id": str(target.id), **{k: getattr(target, k) for k in account_rules.IDENTITY_FIELDS}})


@bp.get("/demandes/modification")
@gestionnaire_required
def request_modification_form():
    """Step 1 of a modification: choose the gestionnaire, get its data pre-filled.
    htmx swaps just the modification section; without JS the whole page comes back."""
    raw = request.args.get("gestionnaire", "")
    target = get_partner_gestionnaire_or_404(raw) if raw else None
    form = _modification_form_for(target) if target else None
    if is_partial():
        if form is not None:
            form.set_caisses(conventions_in_force(_me().partenaire_id))
        return render_fragments(("gestion/_request_modification.html", {
            "modification": form, "target": target,
            "gestionnaires": account_rules.seated_gestionnaires(_me().partenaire_id)}))
    return _render_requests(modification=form, target=target)


@bp.post("/demandes/modification")
@gestionnaire_required
def request_modification():
    form = ModificationRequestForm(prefix="modification")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    target = partner_gestionnaire(form.target_id.data)
    return _file_request(form, RequestKind.MODIFICATION,
                         lambda status, refusal: _render_requests(modification=form, target=target, status=status),
                         data=form.identity(), target_id=target.id if target else None)


@bp.post("/demandes/inactivation")
@gestionnaire_required
def request_inactivation():
    form = InactivationRequestForm(prefix="inactivation")
    form.set_caisses(conventions_in_force(_me().partenaire_id))
    form.set_targets(account_rules.seated_gestionnaires(_me().partenaire_id))
    return _file_request(form, RequestKind.INACTIVATION,
                         lambda status, refusal: _render_requests(inactivation=form, status=status),
                         target_id=form.target_id.data, wished_date=form.wished_date.data)


# ---------------------------------------------------------------- habilitations

def _render_habilitations(item_state: dict | None = None, status: int = 200):
    me = _me()
    return _page(
        "gestion/habilitations.html", status,
        partenaire=me.partenaire,
        rows=habilitation_rows(me.partenaire_id),
        headers=HEADERS,
        item_state=item_state,
        progress=reviews.progress(reviews.open_review_for(me.partenaire_id)),
    )


@bp.get("/habilitations")
@gestionnaire_required
def habilitations():
    return _render_habilitations()


@bp.get("/habilitations.<any(csv, xlsx):fmt>")
@gestionnaire_required
@recent_auth_required(methods=("GET",))
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


def _answered(item: ReviewItem) -> str:
    if item.decision == ReviewDecision.CONFIRMED:
        message = f"Habilitation de {item.account.full_name} confirmée."
    else:
        message = f"Le compte de {item.account.full_name} est inactivé."
    if item.review.completed_at is not None:
        message += " La revue des habilitations est terminée : merci."
    return message


@bp.post("/habilitations/revue/<int:item_id>")
@gestionnaire_required
def answer_review(item_id: int):
    """SPEC §3 [4.2]: confirm or inactivate one account of the open review."""
    item = get_review_item_or_404(item_id)
    form = ReviewAnswerForm()

    def render(status, refusal):
        state = {"id": item.id, "error": first_error(form), "reason": form.reason.data or ""}
        if is_partial():
            return render_fragments(
                ("gestion/_review_row.html", {"item": item, "state": state, "review": item.review}), status=status)
        return _render_habilitations(item_state=state, status=status)

    def answered(_, message):
        progress = reviews.progress(item.review)
        return render_fragments(
            ("gestion/_review_row.html", {"item": item, "state": None, "review": item.review}),
            ("gestion/_habilitation_row.html", {"row": row_for(item.account), "oob": True}),
            ("gestion/_review_status.html", {"progress": progress, "oob": True}),
            ("gestion/_notice.html", {"message": message}),
        )

    return run(lambda: reviews.answer_item(_me(), item, ReviewDecision(form.decision.data), form.reason.data or ""),
               form=form, render=render, success=lambda _: _answered(item), then=url_for("gestion.habilitations"),
               fragment=answered)
