"""The audit-log search page (SPEC §7), for the national administration (every
event) and for a caisse's référent (its own events only, SPEC §8). The search
itself is ep_web.domain.audit.search_events.

``audit_page(caisse_id)`` is self-contained: any route may return it; the
filters come from the query string and the links point back to the calling
route."""
import unicodedata

from flask import abort, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from ep_web.clock import to_paris
from ep_web.domain.audit import ACTIONS, AuditFilters, search_events
from ep_web.domain.caisses import caisse_names
from ep_web.forms import choices
from ep_web.htmx import render_page_or_fragment
from ep_web.inputs import coerce_id, parse_date
from ep_web.models import Profile


class AuditSearchForm(FlaskForm):
    """A GET form: no CSRF token, values read from the query string. Dates are
    plain text fields shown as ``type="date"`` so the error messages stay ours
    (and French), and typed "JJ/MM/AAAA" works in browsers without a picker."""

    class Meta:
        csrf = False

    # Not named "action": a control of that name would shadow form.action in the DOM.
    evenement = SelectField("Action", choices=[], validate_choice=False)
    auteur = StringField("Identifiant de l'auteur (contient)")
    du = StringField("Du")
    au = StringField("Au")
    partenaire = StringField("N° du partenaire")
    caisse = SelectField("Caisse", choices=[], validate_choice=False)


def read_filters(form: AuditSearchForm, *, allow_caisse: bool) -> AuditFilters:
    """The filters typed in the form; a bad value gets a French error on its field
    and is not applied."""
    f = AuditFilters()
    action = (form.evenement.data or "").strip()
    if action and action not in ACTIONS:
        form.evenement.errors = ["Action inconnue : choisissez dans la liste."]
    else:
        f.action = action
    f.login = (form.auteur.data or "").strip()[:60]
    for name, attr in (("du", "date_from"), ("au", "date_to")):
        raw = (getattr(form, name).data or "").strip()
        if raw:
            parsed = parse_date(raw)
            if parsed is None:
                getattr(form, name).errors = ["Date invalide. Exemple : 15/03/2026"]
            setattr(f, attr, parsed)
    if f.date_from and f.date_to and f.date_to < f.date_from:
        form.au.errors = ["La date de fin doit être égale ou postérieure à la date de début."]
        f.date_to = None
    raw = (form.partenaire.data or "").strip()
    if raw:
        f.partenaire_id = coerce_id(raw)
        if f.partenaire_id is None:
            form.partenaire.errors = ["Indiquez le numéro du partenaire, en chiffres. Exemple : 42"]
    raw = (form.caisse.data or "").strip()
    if raw and allow_caisse:
        f.caisse_id = coerce_id(raw)
        if f.caisse_id is None:
            form.caisse.errors = ["Caisse inconnue : choisissez dans la liste."]
    return f


def _sort_key(label: str) -> str:
    """Alphabetical order as a French reader expects it: « Échec » with the E."""
    return unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def _check_access(caisse_id: int | None) -> None:
    """Defence in depth: the calling route already checked the profile."""
    if not current_user.is_authenticated:
        abort(403)
    if current_user.profile == Profile.ADMIN_NATIONAL:
        return
    if caisse_id is None or current_user.profile != Profile.ADMIN_CAISSE or current_user.caisse_id != caisse_id:
        abort(403)


def audit_page(caisse_id: int | None):
    """The audit search page (or its results fragment for htmx), for the current
    route. ``caisse_id=None`` searches every event (national administration)."""
    _check_access(caisse_id)
    national = caisse_id is None
    form = AuditSearchForm(formdata=request.args)
    form.evenement.choices = choices([("", "Toutes les actions")]
                                     + sorted(ACTIONS.items(), key=lambda kv: _sort_key(kv[1])))
    if national:
        form.caisse.choices = choices([("", "Toutes les caisses")] + [(str(cid), name) for cid, name in caisse_names()])
    filters = read_filters(form, allow_caisse=national)
    results = search_events(caisse_id, filters, _page_number())

    endpoint = request.endpoint
    view_args = dict(request.view_args or {})

    def page_url(n: int) -> str:
        return url_for(endpoint, **view_args, **filters.as_args(), page=n)

    # _check_access made sure a caisse's search is its own référent's.
    scope_caisse = current_user.caisse if caisse_id is not None else None
    has_errors = any(f.errors for f in form)
    return render_page_or_fragment(
        "audit/search.html",
        "audit/_results.html",
        form=form,
        filters=filters,
        results=results,
        labels=ACTIONS,
        national=national,
        scope_caisse=scope_caisse,
        page_url=page_url,
        search_url=url_for(endpoint, **view_args),
        has_errors=has_errors,
        to_paris=to_paris,
    )
