"""The partner's demandes (SPEC §4): a technicien chooses the caisse and the
service, writes the demande (identity of the person, never the NIR), follows it
(timeline, thread, files) and reads the history of the structure.

Every route: load and authorize (ep_web.permissions: a technicien only; a
demande of another structure, or to a caisse whose convention has ended, is a
404), then hand one domain call (ep_web.domain.demandes) to ep_web.actions.run:
commit once → 303; on a refusal, the message next to its field with everything
typed kept (422) — files excepted: the browser cannot re-send them, the page
says so."""
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ep_web.actions import run
from ep_web.confirm import ask
from ep_web.demandes.forms import SERVICES, ActionForm, CheckForm, DemandeForm, HistoryForm, ReplyForm, typed_fields
from ep_web.demandes.helpers import register as register_helpers
from ep_web.domain import demandes as dm
from ep_web.domain import drafts, statistics
from ep_web.domain import notifications as notif
from ep_web.domain.textguard import find_health_terms, find_nirs, highlight, nir_message
from ep_web.htmx import is_partial, render_page_or_fragment
from ep_web.inputs import arg_id
from ep_web.models import Account, Demande, DemandeStatus, Profile, Service
from ep_web.nav import page_urls
from ep_web.permissions import (
    can_view_demande,
    get_attachment_or_404,
    get_demande_or_404,
    get_service_or_404,
    profile_required,
)
from ep_web.transaction import commit

bp = Blueprint("demandes", __name__, url_prefix="/demandes")
register_helpers(bp)

technicien_required = profile_required(Profile.TECHNICIEN)
PER_PAGE = 20

# Labels of the free texts, per service (the field names are the domain's).
MESSAGE_LABELS = {
    Service.CONTACT.value: ("Votre message", None),
    Service.ETUDE_DOSSIER.value: ("Décrivez la situation et ce que vous demandez", None),
    Service.SUIVI_AME.value: ("Message", "Facultatif."),
    Service.SIGNALEMENT.value: ("Décrivez la situation de la personne", "Sans information médicale."),
    Service.RENDEZ_VOUS.value: ("Informations complémentaires", "Facultatif."),
    Service.DOCUMENT.value: ("Message", "Facultatif."),
}
# Every text the live guard may check, and those that are free texts (health warning too).
FREE_TEXTS = {"subject", "message", "urgency_detail", "reason", "slots", "document_other", "body"}
GUARDED = FREE_TEXTS | {"nom", "prenom"}


def _actor() -> Account:
    return current_user._get_current_object()


def demande_access(view):
    """A demande page: for the techniciens of the author's structure only.
    Anyone else — another structure, a caisse agent, another profile — gets a
    404: the demande's existence is not revealed (SPEC §8)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.profile != Profile.TECHNICIEN:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def _chosen_files(files) -> list:
    return [f for f in (files or []) if f and f.filename]


def _prepare(files, existing: int = 0) -> list:
    """Uploaded files checked by the attachments domain (type by content, size,
    count, virus scan); nothing chosen → nothing to check."""
    files = _chosen_files(files)
    if not files:
        return []
    from ep_web.domain.attachments import validate_uploads

    return validate_uploads(files, existing)


def _flag_every_nir(form, names) -> None:
    """The domain reports the first refused field; the page shows every field
    holding a NIR at once, so that one round trip fixes them all."""
    for name in names:
        field = getattr(form, name, None)
        if field is None or field.errors:
            continue
        found = find_nirs(field.data or "")
        if found:
            field.errors = list(field.errors or []) + [nir_message(found[0])]


# ---------------------------------------------------------------- step 1: caisse and service

def _chosen_convention(conventions, caisse_id, departement):
    """The caisse asked for, else the one of the person's département (SPEC §4
    default), else the only one."""
    if caisse_id:
        for conv in conventions:
            if conv.caisse_id == caisse_id:
                return conv
    if departement:
        caisse = dm.default_caisse(current_user.partenaire_id, departement)
        if caisse is not None:
            return next((c for c in conventions if c.caisse_id == caisse.id), None)
    if len(conventions) == 1:
        return conventions[0]
    return None


def usual_delay_texts(caisse_id: int) -> dict[str, str]:
    """The usual delay of each service at the caisse, worded as an observation
    (SPEC §4; ep_web.domain.statistics.usual_delays hides the thin ones)."""
    out = {}
    for service, (low, high) in statistics.usual_delays(caisse_id).items():
        if high == 0:
            span = "en moins d'un jour"
        elif high is None:
            span = f"en plus de {low - 1} jours"
        else:
            span = f"en {high} jour{'s' if high > 1 else ''} ou moins"
        out[service] = (f"Ces trois derniers mois, la caisse a clôturé la moitié de ces demandes {span} "
                        "(une observation, pas un engagement).")
    return out


def _services_of(conv) -> list[Service]:
    return [s for s in Service if conv.enables(s)]


@bp.get("/nouvelle")
@technicien_required
def new():
    """Choose the caisse (proposed from the person's département) then one of
    the services its convention enables."""
    conventions = dm.caisses_for(current_user.partenaire_id)
    departement = (request.args.get("departement") or "").strip().upper()[:3]
    caisse_id = arg_id("caisse_id")
    conv = _chosen_convention(conventions, caisse_id, departement)
    uncovered = bool(departement) and dm.default_caisse(current_user.partenaire_id, departement) is None
    ctx = {"conventions": conventions, "conv": conv, "departement": departement,
           "services": _services_of(conv) if conv else [], "uncovered": uncovered,
           "usual_delays": usual_delay_texts(conv.caisse_id) if conv else {}}
    return render_page_or_fragment("demandes/new.html", "demandes/_services.html", **ctx)


# ---------------------------------------------------------------- step 2: the form of a service

def _health_fields(form, service: str) -> dict[str, object]:
    """Each free text holding health terms, by field name, highlighted (SPEC §4 [5])."""
    fields = {}
    for name in dm.FREE_TEXT_FIELDS[service]:
        text = getattr(form, name).data or ""
        matches = find_health_terms(text)
        if matches:
            fields[name] = highlight(text, matches)
    return fields


def _health_hits(form, service: str) -> list[tuple[str, object]]:
    """Each free text holding health terms, labelled and highlighted (SPEC §4 [5])."""
    return [(_label(service, name, getattr(form, name).label.text), marked)
            for name, marked in _health_fields(form, service).items()]


def _label(service: str, name: str, default: str) -> str:
    return MESSAGE_LABELS[service][0] if name == "message" else default


def _duplicates(form, service: str) -> list[Demande]:
    if not (form.caisse_id.data and form.nom.data and form.prenom.data and form.date_naissance.data):
        return []
    return dm.find_duplicates(form.caisse_id.data, service, form.nom.data.strip(), form.prenom.data.strip(),
                              form.date_naissance.data, partenaire_id=current_user.partenaire_id)


def _render_form(service: str, form: DemandeForm, conventions, status: int = 200, **extra):
    ctx = {"service": Service(service), "form": form, "conventions": conventions,
           "message_label": MESSAGE_LABELS[service], "health_hits": [], "duplicates": [], "files_lost": [],
           "foreign_caisse": None, "can_view": lambda d: can_view_demande(current_user, d)}
    ctx.update(extra)
    return render_template("demandes/form.html", **ctx), status


@bp.get("/nouvelle/<service>")
@technicien_required
def new_service(service: str):
    service = get_service_or_404(service)
    conventions = [c for c in dm.caisses_for(current_user.partenaire_id) if c.enables(service)]
    if not conventions:
        flash("Ce service n'est ouvert à votre structure par aucune des caisses avec lesquelles elle a une "
              "convention en cours.", "error")
        return render_template("demandes/new.html", conventions=dm.caisses_for(current_user.partenaire_id),
                               conv=None, departement="", services=[], uncovered=False), 403
    draft = _draft_from_args()
    if draft is not None and draft.service != service:
        return redirect(url_for("demandes.new_service", service=draft.service, brouillon=draft.id))
    form = DemandeForm(formdata=_draft_formdata(draft) if draft else None)
    form.set_caisses(conventions)
    departement = (request.args.get("departement") or (draft.data.get("departement") if draft else "")
                   or "").strip().upper()[:3]
    caisse_id = arg_id("caisse_id") or (form.caisse_id.data if draft else None)
    conv = _chosen_convention(conventions, caisse_id, departement)
    form.caisse_id.data = conv.caisse_id if conv else None
    form.departement.data = departement
    foreign = None
    if caisse_id and conv is None or (conv and caisse_id and conv.caisse_id != caisse_id):
        foreign = "La caisse choisie n'ouvre pas ce service à votre structure : choisissez-en une autre."
    return _render_form(service, form, conventions, foreign_caisse=foreign, draft=draft)


def _draft_from_args():
    from ep_web.inputs import coerce_id
    from ep_web.permissions.demandes import get_draft_or_404

    draft_id = coerce_id(request.args.get("brouillon"))
    return get_draft_or_404(draft_id) if draft_id else None


def _draft_formdata(draft):
    from werkzeug.datastructures import MultiDict

    pairs = []
    for name, value in draft.data.items():
        for item in (value if isinstance(value, list) else [value]):
            pairs.append((name, item))
    return MultiDict(pairs)


def _posted_draft():
    """The draft a submitted form came from (its own author's), if any."""
    return _posted_draft_of(current_user)


@bp.post("/nouvelle/<service>")
@technicien_required
def create(service: str):
    """SPEC §4: create the demande; every refusal comes back next to its field."""
    service = get_service_or_404(service)
    conventions = [c for c in dm.caisses_for(current_user.partenaire_id) if c.enables(service)]
    form = DemandeForm()
    form.set_caisses(conventions)
    chosen = _chosen_files(request.files.getlist(form.files.name))

    def render(status: int, refusal: str | None):
        # A refusal that names no field is already on top of the form (form_errors).
        _flag_every_nir(form, typed_fields(service))
        extra = {}
        if form.health_confirmed.errors or form.health_confirmed.data:
            extra["health_hits"] = _health_hits(form, service)
        if form.health_confirmed.errors:  # each text holding a term is marked in error, the term shown next to it
            extra["health_fields"] = _health_fields(form, service)
        if form.duplicate_confirmed.errors or form.duplicate_confirmed.data:
            extra["duplicates"] = _duplicates(form, service)
        return _render_form(service, form, conventions, status, files_lost=[f.filename for f in chosen],
                            draft=draft, **extra)

    draft = _posted_draft()

    def call():
        demande = dm.create_demande(_actor(), form.to_input(service), _prepare(chosen))
        if draft is not None:  # the draft became this demande
            drafts.discard(_actor(), draft)
        return demande

    return run(
        call, form=form, render=render,
        success=lambda demande: (f"Votre demande {demande.reference} est transmise à la {demande.caisse.name}. "
                                 "Vous serez prévenu(e) par e-mail de chaque réponse."),
        then=lambda demande: url_for("demandes.show", demande_id=demande.id),
    )


# ---------------------------------------------------------------- drafts (SPEC §8)

@bp.post("/brouillons/<service>")
@technicien_required
def save_draft(service: str):
    """Autosave (htmx, debounced): what is typed is kept on the server; a field
    holding a NIR is not, and the person is told which."""
    service = get_service_or_404(service)
    draft = _posted_draft()

    def status(code: int, refusal: str | None):
        return render_template("demandes/_draft_status.html", draft=None, refused=[],
                               failed=refusal or "Brouillon non enregistré."), code

    return run(lambda: drafts.save(_actor(), service, request.form, draft), form=ActionForm(), render=status,
               done=lambda result: render_template("demandes/_draft_status.html", draft=result[0], failed=None,
                                                   refused=[drafts.LABELS.get(n, n) for n in result[1]]))


@bp.get("/brouillons")
@technicien_required
def draft_list():
    return render_template("demandes/drafts.html", drafts=drafts.of(_actor()), form=ActionForm(),
                           expires_on=drafts.expires_on, services=dict((s.value, s.label) for s in Service))


@bp.get("/brouillons/<int:draft_id>")
@technicien_required
def resume_draft(draft_id: int):
    from ep_web.permissions.demandes import get_draft_or_404

    draft = get_draft_or_404(draft_id)
    return redirect(url_for("demandes.new_service", service=draft.service, brouillon=draft.id))


@bp.post("/brouillons/<int:draft_id>/supprimer")
@technicien_required
def delete_draft(draft_id: int):
    from ep_web.permissions.demandes import get_draft_or_404

    draft = get_draft_or_404(draft_id)
    if (question := ask("Le brouillon sera supprimé définitivement, avec tout ce qui y est saisi.",
                        title="Supprimer le brouillon", button="Supprimer le brouillon",
                        back=url_for("demandes.draft_list"),
                        summary=[("Brouillon", f"{Service(draft.service).label} — {draft.person}")])) is not None:
        return question
    return run(lambda: drafts.discard(_actor(), draft), form=ActionForm(),
               render=lambda status, refusal: (draft_list(), status),
               success="Le brouillon est supprimé.", then=url_for("demandes.draft_list"))


# ---------------------------------------------------------------- the live guard

@bp.post("/verification")
@technicien_required
def check():
    """Live feedback while typing (htmx, debounced): the NIR message (masked)
    for any typed field, and the health terms highlighted for a free text. The
    same checks run on submit — this only helps."""
    form = CheckForm()
    name = form.field.data or ""
    if name not in GUARDED:
        return render_template("demandes/_guard.html", nir=None, health=None)
    value = (request.form.get(name) or "")[:4000]
    nirs = find_nirs(value)
    health = None
    if name in FREE_TEXTS:
        matches = find_health_terms(value)
        if matches:
            health = {"terms": list(dict.fromkeys(m.term for m in matches)), "text": highlight(value, matches)}
    return render_template("demandes/_guard.html", nir=nir_message(nirs[0]) if nirs else None, health=health)


# ---------------------------------------------------------------- one demande

def _render_show(demande: Demande, reply_form: ReplyForm | None = None, status: int = 200, **extra):
    ctx = {"demande": demande, "reply_form": reply_form or ReplyForm(formdata=None),
           "following": notif.is_following(_actor(), demande),
           "download_endpoint": "demandes.download", "health_hits": [], "files_lost": [],
           "max_files": _max_files(), "complement_message": _complement_message(demande),
           "purge_on": dm.purge_date(demande)}
    ctx.update(extra)
    return render_template("demandes/show.html", **ctx), status


def _max_files() -> int:
    from flask import current_app

    return current_app.config["MAX_ATTACHMENTS"]


def _complement_message(demande: Demande):
    """The caisse's last message when it waits for a complement."""
    if demande.status != DemandeStatus.ATTENTE_COMPLEMENT:
        return None
    return next((m for m in reversed(demande.messages) if m.from_caisse), None)


@bp.get("/<int:demande_id>")
@demande_access
def show(demande_id: int):
    """The demande for the structure: person, content, timeline, thread, files
    and the reply form (this is the page the author's e-mails link to).
    Opening it reads the user's notifications about it (SPEC §6)."""
    demande = get_demande_or_404(demande_id)
    if notif.mark_demande_read(_actor(), demande.id):
        commit()
    return _render_show(demande)


@bp.get("/<int:demande_id>/accuse-de-depot.pdf")
@demande_access
def receipt(demande_id: int):
    """SPEC §4: the PDF « accusé de dépôt » (reference, date, caisse, service)."""
    from flask import make_response

    from ep_web.demandes.receipt import receipt_pdf

    demande = get_demande_or_404(demande_id)
    response = make_response(receipt_pdf(demande))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="accuse-de-depot-{demande.reference}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<int:demande_id>/suivre")
@demande_access
def follow(demande_id: int):
    """SPEC §6 « Suivre »: any technicien of the structure follows a demande."""
    demande = get_demande_or_404(demande_id)
    return run(lambda: notif.follow(_actor(), demande), form=ActionForm(),
               success="Vous suivez cette demande : vous serez prévenu de chaque nouveauté.",
               then=url_for("demandes.show", demande_id=demande.id))


@bp.post("/<int:demande_id>/ne-plus-suivre")
@demande_access
def unfollow(demande_id: int):
    """SPEC §6 « Ne plus suivre »."""
    demande = get_demande_or_404(demande_id)
    return run(lambda: notif.unfollow(_actor(), demande), form=ActionForm(),
               success="Vous ne suivez plus cette demande.",
               then=url_for("demandes.show", demande_id=demande.id))


@bp.get("/<int:demande_id>/messages")
@demande_access
def messages(demande_id: int):
    """The thread alone (htmx), or the demande page at the thread."""
    demande = get_demande_or_404(demande_id)
    if is_partial():
        return render_template("demandes/_thread.html", demande=demande)
    return redirect(url_for("demandes.show", demande_id=demande.id, _anchor="echanges"), 303)


@bp.post("/<int:demande_id>/messages")
@demande_access
def reply(demande_id: int):
    """A message (and files) from the structure; answers a complement request."""
    demande = get_demande_or_404(demande_id)
    form = ReplyForm()
    chosen = _chosen_files(request.files.getlist(form.files.name))
    was_waiting = demande.status == DemandeStatus.ATTENTE_COMPLEMENT

    def render(status: int, refusal: str | None):
        # A refusal that names no field is already on top of the form (form_errors).
        _flag_every_nir(form, ("body",))
        hits = []
        if form.health_confirmed.errors or form.health_confirmed.data:
            matches = find_health_terms(form.body.data or "")
            if matches:
                hits = [("Votre message", highlight(form.body.data or "", matches))]
        return _render_show(demande, form, status, health_hits=hits, files_lost=[f.filename for f in chosen])

    return run(
        lambda: dm.partner_reply(_actor(), demande, form.body.data or "",
                                 health_confirmed=bool(form.health_confirmed.data),
                                 prepared_files=_prepare(chosen, existing=len(demande.attachments))),
        form=form, render=render,
        success=("Votre complément est transmis à la caisse." if was_waiting
                 else "Votre message est transmis à la caisse."),
        then=url_for("demandes.show", demande_id=demande.id, _anchor="echanges"),
    )


@bp.get("/<int:demande_id>/pieces/<int:attachment_id>")
@demande_access
def download(demande_id: int, attachment_id: int):
    """SPEC §4/§7: a file of one of the structure's demandes, served as an
    attachment to the techniciens of the structure only; each download is audited."""
    demande = get_demande_or_404(demande_id)
    attachment = get_attachment_or_404(demande, attachment_id)
    from ep_web.domain.attachments import check_servable, send_attachment

    check_servable(attachment)  # a file waiting for its scan or infected is not served (nor audited)
    dm.record_download(_actor(), attachment)
    commit()
    return send_attachment(attachment)


# ---------------------------------------------------------------- history

def _history_filters(form: HistoryForm) -> dm.Filters:
    """The filters as typed; a value the form refused (an unreadable date) is ignored."""
    service = form.service.data if form.service.data in SERVICES else ""
    status = form.status.data if form.status.data in DemandeStatus._value2member_map_ else ""
    return dm.Filters(
        service=service, status=status, caisse_id=form.caisse_id.data, author_id=form.author_id.data,
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
        q=(form.q.data or "").strip()[:100],
    )


def _args(**override) -> dict:
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    args.update(override)
    return {k: v for k, v in args.items() if v}


@bp.get("")
@technicien_required
def index():
    """SPEC §4 History: every demande of the structure (not only the user's),
    filters, search by the person's name, 20 per page; the results region is
    the same markup for the page and for htmx."""
    form = HistoryForm(formdata=request.args)
    if is_partial():  # the fragment holds the results only: no choices to build
        _, hidden = dm.caisse_scope(current_user.partenaire_id)
        form.caisse_id.choices = form.author_id.choices = []
    else:
        caisses, hidden, authors = dm.history_choices(current_user.partenaire_id)
        form.caisse_id.choices = [("", "Toutes les caisses")] + caisses
        form.author_id.choices = [("", "Tous les auteurs")] + authors
    form.validate()
    filters = _history_filters(form)
    rows, total, pages, page = dm.history_page(current_user, filters, request.args.get("page", 1, type=int) or 1,
                                               PER_PAGE, hidden)
    filtered = any(v for k, v in request.args.items() if k != "page")
    ctx = {"form": form, "rows": rows, "total": total, "page": page, "pages": pages,
           "page_url": page_urls("demandes.index", _args(), first="bare"), "filtered": filtered}
    return render_page_or_fragment("demandes/index.html", "demandes/_history_results.html", **ctx)


def rescue_expired_post(account) -> str | None:
    """SPEC §8, nothing typed is lost: a demande form posted after its author's
    session ended becomes a draft (never a NIR: ep_web.domain.drafts). Returns
    where to resume it after the next login, or None when the request was no
    demande form (committed here: the request is about to be answered by the
    login page)."""
    if request.method != "POST" or request.endpoint != "demandes.create" or account is None:
        return None
    if account.profile != Profile.TECHNICIEN:
        return None
    service = (request.view_args or {}).get("service", "")
    if service not in {s.value for s in Service}:
        return None
    draft = _posted_draft_of(account)
    draft, _ = drafts.save(account, service, request.form, draft)
    commit()
    return url_for("demandes.resume_draft", draft_id=draft.id)


def _posted_draft_of(account):
    from ep_web.permissions.demandes import own_draft

    return own_draft(account, request.form.get("draft_id"))
