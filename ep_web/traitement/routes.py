"""The caisse's processing queue (SPEC §4 Caisse queue): agents see their
caisse's demandes — urgent signalements on top, then by the 48-hour clock —
filter them, take one, reply, ask for a complement, attach a document (or mark
it sent by post), close it with an outcome, and download the files.

Every route: load and authorize (an agent only; a demande of another caisse is
a 404) → validate the form → call one domain function (ep_web.domain.demandes)
→ commit once → 303 back to the demande (or the demande fragment for htmx); on
a DomainError, roll back and show the message next to its field with what was
typed kept (422)."""
from datetime import timedelta

from flask import Blueprint, make_response, render_template, request, url_for
from flask_login import current_user

from ep_web.actions import run
from ep_web.clock import now
from ep_web.demandes.helpers import register as register_demande_helpers
from ep_web.domain import demandes as dm
from ep_web.domain.home import AGENT_TABS
from ep_web.domain.textguard import find_health_terms, highlight
from ep_web.htmx import is_partial, render_fragments, render_page_or_fragment
from ep_web.models import Account, Demande, DemandeStatus, Profile
from ep_web.nav import page_urls, query_url
from ep_web.permissions import get_attachment_or_404, get_demande_or_404, profile_required
from ep_web.traitement.forms import (
    SERVICE_SHORT,
    ActionForm,
    CloseForm,
    ComplementForm,
    DocumentForm,
    QueueFilterForm,
    ReplyForm,
    RetentionForm,
)
from ep_web.transaction import commit

bp = Blueprint("traitement", __name__, url_prefix="/traitement")

agent_required = profile_required(Profile.AGENT)
PER_PAGE = 20


def _actor() -> Account:
    return current_user._get_current_object()


# ---------------------------------------------------------------- template helpers

def _hours_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    return f"{minutes // 60} h"


def sla(demande: Demande) -> dict | None:
    """The 48-hour clock of an open signalement, for display: state
    (Demande.sla_state), the French text and the DSFR badge class. A row of
    the queue carries its state and the instant the list read the clock
    (ep_web.domain.demandes.DemandeRow): one clock for the whole page."""
    state = demande.sla_state
    if state is None:
        return None
    left = demande.due_at - (getattr(demande, "seen_at", None) or now())
    if state == "overdue":
        return {"state": state, "text": f"En retard de {_hours_text(-left)}", "badge": "fr-badge--error"}
    return {"state": state, "text": f"Reste {_hours_text(left)}",
            "badge": "fr-badge--warning" if state == "soon" else "fr-badge--info"}


def health_hits(text: str | None):
    """The text with its health terms highlighted, or None when there is none."""
    matches = find_health_terms(text)
    return highlight(text, matches) if matches else None


@bp.context_processor
def _helpers():
    return {"sla": sla, "health_hits": health_hits, "service_short": SERVICE_SHORT}


# The shared demande partials (templates/demandes/_*.html) call these globals;
# registering them here too keeps this page whole whichever blueprint comes first.
register_demande_helpers(bp)


# ---------------------------------------------------------------- the queue

def _filters(form: QueueFilterForm) -> dm.Filters:
    """The filters as typed; a field the form refused (an unreadable date) is ignored."""
    status = form.statut.data if form.statut.data in DemandeStatus._value2member_map_ else ""
    service = form.service.data if form.service.data in SERVICE_SHORT else ""
    return dm.Filters(
        status=status,
        service=service,
        q=(form.q.data or "").strip()[:200] if not form.q.errors else "",
        date_from=form.du.data if not form.du.errors else None,
        date_to=form.au.data if not form.au.errors else None,
        urgent_only=bool(form.urgent.data),
        mine=bool(form.mine.data),
        tab=form.onglet.data if form.onglet.data in AGENT_TABS else "",
    )


def _args(**override) -> dict:
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    args.update(override)
    return {k: v for k, v in args.items() if v}


def _link_with(args: dict, key: str):
    """``value -> the queue's address with args, key=value`` (the status and
    tab links): the request's arguments read once for all the links."""
    def url(value: str) -> str:
        return query_url("traitement.index", {k: v for k, v in {**args, key: value}.items() if v})

    return url


@bp.get("")
@agent_required
def index():
    """SPEC §4 Caisse queue: open demandes by default, urgent on top, then by
    the 48-hour clock (overdue first), then oldest first; 20 per page."""
    form = QueueFilterForm(formdata=request.args)
    form.validate()
    filters = _filters(form)
    # The cockpit's tabs are on the full page only (a fragment swaps the results).
    tab_counts = None if is_partial() else {}
    counts, rows, total, pages, page = dm.queue_page(current_user, filters,
                                                     request.args.get("page", 1, type=int) or 1, PER_PAGE,
                                                     tab_counts=tab_counts)
    args = _args()
    ctx = {
        "form": form, "rows": rows, "total": total, "page_no": page, "pages": pages, "filters": filters,
        "counts": [{"status": st, "count": n} for st, n in counts.items()],
        "page_url": page_urls("traitement.index", args), "status_url": _link_with(args, "statut"), "oob": is_partial(),
        "filtered": any(v for k, v in request.args.items() if k != "page"),
        "tabs": AGENT_TABS, "tab_counts": tab_counts or {}, "tab": filters.tab,
        "tab_url": _link_with(args, "onglet"),
        "scope": (f"au statut « {DemandeStatus(filters.status).label.lower()} »" if filters.status
                  else ("ouvertes" if total > 1 else "ouverte")),
    }
    return render_page_or_fragment("traitement/index.html", "traitement/_results.html", **ctx)


# ---------------------------------------------------------------- one demande

FORMS = {"reply_form": (ReplyForm, "reply"), "complement_form": (ComplementForm, "complement"),
         "document_form": (DocumentForm, "doc"), "close_form": (CloseForm, "close"),
         "retention_form": (RetentionForm, "retention")}


def _demande_context(demande: Demande, forms: dict) -> dict:
    ctx = {"demande": demande, "can_attach": demande.partenaire.habilite_documents,
           "download_endpoint": "traitement.download", "purge_on": dm.purge_date(demande)}
    for name, (cls, prefix) in FORMS.items():
        ctx[name] = forms.get(name) or cls(prefix=prefix, formdata=None)
    ctx["close_form"].set_outcomes(dm.outcomes_for(demande))
    return ctx


def _render_demande(demande: Demande, status: int = 200, notice: str | None = None, refusal: str | None = None,
                    **forms):
    ctx = _demande_context(demande, forms)
    ctx["refusal"] = refusal
    if is_partial():
        parts = [("traitement/_demande.html", ctx)]
        if notice:
            parts.append(("_flash_oob.html", {"message": notice, "category": "success"}))
        return render_fragments(*parts, status=status)
    return make_response(render_template("traitement/show.html", **ctx), status)


@bp.get("/demandes/<int:demande_id>")
@agent_required
def show(demande_id: int):
    return _render_demande(get_demande_or_404(demande_id))


def _act(demande_id: int, form_name: str | None, action, success: str):
    """One action on a demande: POST → domain → commit → 303 (or fragment)."""
    demande = get_demande_or_404(demande_id)
    if form_name:
        cls, prefix = FORMS[form_name]
        form = cls(prefix=prefix)
        if form_name == "close_form":
            form.set_outcomes(dm.outcomes_for(demande))
    else:
        form = ActionForm()
    forms = {form_name: form} if form_name else {}
    return run(
        lambda: action(_actor(), demande, form), form=form,
        render=lambda status, refusal: _render_demande(demande, status, refusal=refusal, **forms),
        success=success, then=url_for("traitement.show", demande_id=demande.id),
        fragment=lambda _, notice: _render_demande(demande, notice=notice),
    )


def _prepared(demande: Demande, files) -> list:
    """Uploaded files checked (type by content, size, count, virus scan)."""
    files = [f for f in (files or []) if f and f.filename]
    if not files:
        return []
    from ep_web.domain.attachments import validate_uploads

    return validate_uploads(files, len(demande.attachments))


@bp.post("/demandes/<int:demande_id>/prise-en-charge")
@agent_required
def take(demande_id: int):
    return _act(demande_id, None, lambda actor, d, form: dm.take(actor, d),
                "Vous avez pris en charge la demande.")


@bp.post("/demandes/<int:demande_id>/reponse")
@agent_required
def reply(demande_id: int):
    def action(actor, d, form):
        prepared = _prepared(d, form.files.data)
        dm.caisse_reply(actor, d, form.body.data or "", health_confirmed=bool(form.health_confirmed.data),
                        prepared_files=prepared)

    return _act(demande_id, "reply_form", action, "Réponse envoyée : la structure est prévenue par e-mail.")


@bp.post("/demandes/<int:demande_id>/complement")
@agent_required
def complement(demande_id: int):
    def action(actor, d, form):
        dm.request_complement(actor, d, form.body.data or "", health_confirmed=bool(form.health_confirmed.data))

    return _act(demande_id, "complement_form", action,
                "Complément demandé : la demande est en attente de la réponse de la structure.")


@bp.post("/demandes/<int:demande_id>/documents")
@agent_required
def attach(demande_id: int):
    def action(actor, d, form):
        dm.attach_documents(actor, d, _prepared(d, form.files.data))

    return _act(demande_id, "document_form", action,
                "Document déposé : la structure peut le télécharger dans le portail.")


@bp.post("/demandes/<int:demande_id>/envoi-postal")
@agent_required
def sent_by_post(demande_id: int):
    return _act(demande_id, None, lambda actor, d, form: dm.mark_sent_by_post(actor, d),
                "Envoi du document à l'adresse connue de l'assuré enregistré.")


@bp.post("/demandes/<int:demande_id>/cloture")
@agent_required
def close(demande_id: int):
    return _act(demande_id, "close_form", lambda actor, d, form: dm.close(actor, d, form.outcome.data or ""),
                "Demande clôturée : la structure est prévenue par e-mail.")


@bp.post("/demandes/<int:demande_id>/conservation")
@agent_required
def extend_retention(demande_id: int):
    return _act(demande_id, "retention_form",
                lambda actor, d, form: dm.extend_retention(actor, d, form.until.data, form.reason.data or ""),
                "Conservation prolongée : la structure le voit sur la demande.")


@bp.get("/demandes/<int:demande_id>/documents/<int:attachment_id>")
@agent_required
def download(demande_id: int, attachment_id: int):
    """SPEC §4/§7: a file of this caisse's demande; each download is audited."""
    demande = get_demande_or_404(demande_id)
    attachment = get_attachment_or_404(demande, attachment_id)
    from ep_web.domain.attachments import check_servable, send_attachment

    check_servable(attachment)  # a file waiting for its scan or infected is not served (nor audited)
    dm.record_download(_actor(), attachment)
    commit()
    return send_attachment(attachment)
