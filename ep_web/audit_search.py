"""Searching the audit log (SPEC §7), for the national administration (every
event) and for a caisse's référent (its own events only, SPEC §8).

``audit_page(caisse_id)`` is self-contained: any route may return it; the
filters come from the query string and the links point back to the calling
route."""
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import abort, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, or_, select
from wtforms import SelectField, StringField

from ep_web.clock import PARIS, to_paris
from ep_web.domain.audit import ACTIONS
from ep_web.extensions import db
from ep_web.forms import choices
from ep_web.htmx import render_page_or_fragment
from ep_web.models import AuditEvent, Caisse, Convention, Partenaire, Profile

PER_PAGE = 50


@dataclass
class AuditFilters:
    action: str = ""
    login: str = ""
    date_from: date | None = None
    date_to: date | None = None
    partenaire_id: int | None = None
    caisse_id: int | None = None  # a filter, only offered to the national administration

    def as_args(self) -> dict:
        """Back to query-string values (for the pagination links)."""
        out = {
            "evenement": self.action,
            "auteur": self.login,
            "du": self.date_from.isoformat() if self.date_from else "",
            "au": self.date_to.isoformat() if self.date_to else "",
            "partenaire": str(self.partenaire_id) if self.partenaire_id else "",
            "caisse": str(self.caisse_id) if self.caisse_id else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class AuditResults:
    events: list
    total: int
    page: int
    pages: int
    caisse_names: dict = field(default_factory=dict)
    partenaire_names: dict = field(default_factory=dict)


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


def _parse_date(raw: str) -> date:
    raw = (raw or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
        if 1900 <= parsed.year <= 2999:  # far dates would overflow the day arithmetic
            return parsed
    raise ValueError("Date invalide. Exemple : 15/03/2026")


def _is_id(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31


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
            try:
                setattr(f, attr, _parse_date(raw))
            except ValueError as exc:
                getattr(form, name).errors = [str(exc)]
    if f.date_from and f.date_to and f.date_to < f.date_from:
        form.au.errors = ["La date de fin doit être égale ou postérieure à la date de début."]
        f.date_to = None
    raw = (form.partenaire.data or "").strip()
    if raw:
        if _is_id(raw):
            f.partenaire_id = int(raw)
        else:
            form.partenaire.errors = ["Indiquez le numéro du partenaire, en chiffres. Exemple : 42"]
    raw = (form.caisse.data or "").strip()
    if raw and allow_caisse:
        if _is_id(raw):
            f.caisse_id = int(raw)
        else:
            form.caisse.errors = ["Caisse inconnue : choisissez dans la liste."]
    return f


def scope_clause(caisse_id: int):
    """What a caisse may see (SPEC §8: never another caisse's data): the events
    about the caisse itself, and the events of the partners it has (or had) a
    convention with that no other caisse wrote (a partner shared by two caisses
    shows each caisse its own actions, plus the partner's own)."""
    partners = select(Convention.partenaire_id).where(Convention.caisse_id == caisse_id)
    return or_(
        AuditEvent.caisse_id == caisse_id,
        and_(AuditEvent.caisse_id.is_(None), AuditEvent.partenaire_id.in_(partners)),
    )


def _paris_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_events(caisse_id: int | None, filters: AuditFilters, page: int = 1) -> AuditResults:
    """Newest first, PER_PAGE by page; ``caisse_id`` restricts to that caisse's scope."""
    q = select(AuditEvent)
    if caisse_id is not None:
        q = q.where(scope_clause(caisse_id))
    if filters.action:
        q = q.where(AuditEvent.action == filters.action)
    if filters.login:
        q = q.where(AuditEvent.actor_login.ilike(f"%{_escape_like(filters.login)}%", escape="\\"))
    if filters.date_from:
        q = q.where(AuditEvent.at >= _paris_midnight_utc(filters.date_from))
    if filters.date_to:
        q = q.where(AuditEvent.at < _paris_midnight_utc(filters.date_to + timedelta(days=1)))
    if filters.partenaire_id:
        q = q.where(AuditEvent.partenaire_id == filters.partenaire_id)
    if filters.caisse_id:
        # The national view of one caisse is what that caisse itself sees.
        q = q.where(scope_clause(filters.caisse_id))
    q = q.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())

    page = max(1, page)
    pagination = db.paginate(q, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    if pagination.pages and page > pagination.pages:
        page = pagination.pages
        pagination = db.paginate(q, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    events = list(pagination.items)

    caisse_ids = {e.caisse_id for e in events if e.caisse_id}
    partenaire_ids = {e.partenaire_id for e in events if e.partenaire_id}
    caisse_names = dict(db.session.execute(select(Caisse.id, Caisse.name).where(Caisse.id.in_(caisse_ids))).all()) \
        if caisse_ids else {}
    partenaire_names = dict(
        db.session.execute(select(Partenaire.id, Partenaire.name).where(Partenaire.id.in_(partenaire_ids))).all()
    ) if partenaire_ids else {}
    return AuditResults(events=events, total=pagination.total or 0, page=page, pages=pagination.pages or 1,
                        caisse_names=caisse_names, partenaire_names=partenaire_names)


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
        form.caisse.choices = choices([("", "Toutes les caisses")] + [
            (str(cid), name) for cid, name in db.session.execute(select(Caisse.id, Caisse.name).order_by(Caisse.name))
        ])
    filters = read_filters(form, allow_caisse=national)
    results = search_events(caisse_id, filters, _page_number())

    endpoint = request.endpoint
    view_args = dict(request.view_args or {})

    def page_url(n: int) -> str:
        return url_for(endpoint, **view_args, **filters.as_args(), page=n)

    scope_caisse = db.session.get(Caisse, caisse_id) if caisse_id is not None else None
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
