"""The follow-up indicators (SPEC §7): the table of a caisse's partners
(admin_caisse; national for any caisse, and a table of caisses), the bilan of
one partner at one caisse (with its information sessions, its charts and its
exports CSV, XLSX and a one-page PDF), read by the caisse, national and the
partner's gestionnaires."""
from datetime import date

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user

from ep_web import charts, exports
from ep_web.actions import run
from ep_web.clock import today
from ep_web.domain import audit, indicators
from ep_web.domain.indicators import Period, year_period
from ep_web.htmx import render_page_or_fragment
from ep_web.indicateurs.forms import ActionForm, FilterForm, SessionForm
from ep_web.inputs import query_args
from ep_web.models import PARTENAIRE_TYPE_LABELS, Profile
from ep_web.permissions import profile_required
from ep_web.permissions.indicateurs import (
    can_manage_sessions,
    get_caisse_scope_or_404,
    get_indicator_scope_or_404,
    get_session_or_404,
)
from ep_web.transaction import commit

bp = Blueprint("indicateurs", __name__, url_prefix="/indicateurs")

readers = profile_required(Profile.ADMIN_CAISSE, Profile.ADMIN_NATIONAL, Profile.GESTIONNAIRE)
# SPEC §7: the information sessions are entered by the caisse.
caisse_only = profile_required(Profile.ADMIN_CAISSE)


PAGE_SIZE = 50  # partners per page of the table (the exports hold them all)


def _actor():
    return current_user._get_current_object()


def period_of(form: FilterForm) -> Period:
    """A date range when both ends are valid and in order, else the chosen year
    (this year by default)."""
    du, au = form.du.data, form.au.data
    if isinstance(du, date) and isinstance(au, date) and du <= au and not form.du.errors and not form.au.errors:
        return Period(du, au)
    try:
        year = int(form.annee.data or today().year)
    except ValueError:
        year = today().year
    if not indicators_year_ok(year):
        year = today().year
    return year_period(year)


def indicators_year_ok(year: int) -> bool:
    return 2000 <= year <= today().year


def _filters():
    form = FilterForm(formdata=request.args)
    form.validate()
    if (isinstance(form.du.data, date) and isinstance(form.au.data, date) and form.du.data > form.au.data
            and not form.au.errors):
        form.au.errors = list(form.au.errors) + ["La date de fin précède la date de début."]
    elif bool(form.du.data) != bool(form.au.data) and not (form.du.errors or form.au.errors):
        missing = form.au if form.du.data else form.du
        missing.errors = list(missing.errors) + ["Indiquez les deux dates pour choisir une période."]
    return form, period_of(form)


def _query_args(form: FilterForm, **extra) -> dict:
    # Never a key the links' endpoints take themselves (ep_web.inputs.query_args).
    args = {k: v for k, v in query_args("fmt", "convention_id", "slug").items() if v}
    args.update({k: v for k, v in extra.items() if v is not None})
    return args


# ---------------------------------------------------------------- the table


def _table_context(paginate: bool = True):
    form, period = _filters()
    actor = _actor()
    context = dict(form=form, period=period, type_labels=PARTENAIRE_TYPE_LABELS, caisse=None, rows=None,
                   caisse_rows=None, own=None, followed=indicators.FOLLOWED, sort="nom", descending=False)
    if actor.profile == Profile.GESTIONNAIRE:
        context["own"] = [(conv, indicators.partner_figures(conv.caisse_id, actor.partenaire_id, period))
                          for conv in indicators.conventions_of(actor.partenaire_id)]
        return context
    caisses = indicators.caisses_for(actor)
    form.caisse.choices = [("", "Toutes les caisses")] + [(str(c.id), c.name) for c in caisses]
    try:
        caisse_id = int(form.caisse.data) if form.caisse.data else None
    except ValueError:
        caisse_id = None
    caisse = get_caisse_scope_or_404(caisse_id)
    sort = form.tri.data if form.tri.data in indicators.SORTS else "nom"
    descending = form.ordre.data == "desc"
    context.update(caisse=caisse, sort=sort, descending=descending)
    if caisse is None:
        context["caisse_rows"] = indicators.caisse_table(period)
    else:
        # The page is cut before its figures are read (the export reads them all).
        rows, count, number = indicators.partner_table_page(
            caisse, period, type_=form.type.data or "", departement=(form.departement.data or "").strip().upper(),
            sort=sort, descending=descending, size=PAGE_SIZE,
            page=(request.args.get("page", 1, type=int) or 1) if paginate else None)
        context.update(rows=rows, shown=rows, count=count, page=number, pages=max(1, -(-count // PAGE_SIZE)))
    return context


@bp.get("")
@readers
def index():
    return render_page_or_fragment("indicateurs/index.html", "indicateurs/_table.html", **_table_context())


@bp.get("/export.<any(csv, xlsx):fmt>")
@readers
def export(fmt: str):
    context = _table_context(paginate=False)
    period = context["period"]
    caisse_headers = ["Caisse", *indicators.TABLE_HEADERS[3:]]
    if context["own"] is not None:  # a gestionnaire: its structure at each of its caisses
        response = exports.export_response(
            fmt, stem=f"indicateurs-{current_user.partenaire.name}-{period.slug}", headers=caisse_headers,
            rows=(indicators.caisse_line(c.caisse.name, f) for c, f in context["own"]), actor=_actor(),
            what="indicateurs", sheet_title="Indicateurs")
    elif context["rows"] is not None:
        caisse = context["caisse"]
        response = exports.export_response(
            fmt, stem=f"indicateurs-{caisse.code}-{period.slug}", headers=indicators.TABLE_HEADERS,
            rows=indicators.table_rows(context["rows"]), actor=_actor(), what="indicateurs",
            sheet_title="Indicateurs", caisse_id=caisse.id)
    else:
        response = exports.export_response(
            fmt, stem=f"indicateurs-caisses-{period.slug}", headers=caisse_headers,
            rows=(indicators.caisse_line(r.caisse.name, r.figures) for r in context["caisse_rows"]),
            actor=_actor(), what="indicateurs", sheet_title="Indicateurs")
    commit()
    return response


# ---------------------------------------------------------------- one partner at one caisse


def _bilan_context(convention_id, caisse, partenaire, session_form=None):
    form, period = _filters()
    figures = indicators.partner_figures(caisse.id, partenaire.id, period)
    manage = can_manage_sessions(current_user, caisse)
    if manage and session_form is None:
        session_form = SessionForm(formdata=None)
    resources = indicators.resources_of_caisse(caisse.id) if manage else []
    if session_form is not None:
        session_form.resources.choices = [(str(r.id), r.title) for r in resources]
    sessions = indicators.sessions_of(caisse.id, partenaire.id, period)
    titles = {r.id: r.title for r in indicators.resources_of_caisse(caisse.id)}
    return dict(convention_id=convention_id, form=form, period=period, caisse=caisse, partenaire=partenaire,
                figures=figures,
                sessions=sessions, resource_titles=titles, session_form=session_form, manage=manage,
                action_form=ActionForm(formdata=None), followed=indicators.FOLLOWED,
                charts=charts.partner_charts(caisse.id, partenaire.id, period),
                query=_query_args(form),
                csv_url=lambda chart: url_for("indicateurs.partner_chart", convention_id=convention_id,
                                              slug=chart.slug, **_query_args(form)))


@bp.get("/conventions/<int:convention_id>/graphiques/<slug>.csv")
@readers
def partner_chart(convention_id: int, slug: str):
    caisse, partenaire = get_indicator_scope_or_404(convention_id)
    form, period = _filters()
    # Only the chart exported is computed.
    chart = next(iter(charts.partner_charts(caisse.id, partenaire.id, period, only=slug)), None)
    if chart is None:
        abort(404)
    response = exports.export_response("csv", stem=f"{chart.slug}-{partenaire.name}-{period.slug}",
                                       headers=chart.table_headers, rows=chart.table_rows, actor=_actor(),
                                       what="statistiques", chart=chart.slug, caisse_id=caisse.id,
                                       partenaire_id=partenaire.id)
    commit()
    return response


@bp.get("/conventions/<int:convention_id>")
@readers
def show(convention_id: int):
    caisse, partenaire = get_indicator_scope_or_404(convention_id)
    return render_template("indicateurs/show.html", **_bilan_context(convention_id, caisse, partenaire))


@bp.post("/conventions/<int:convention_id>/sessions")
@caisse_only
def add_session(convention_id: int):
    caisse, partenaire = get_indicator_scope_or_404(convention_id)
    form = SessionForm()
    form.resources.choices = [(str(r.id), r.title) for r in indicators.resources_of_caisse(caisse.id)]

    def render(status, refusal=None):
        context = _bilan_context(convention_id, caisse, partenaire, form)
        return render_template("indicateurs/show.html", **context), status

    return run(
        lambda: indicators.add_session(_actor(), partenaire, held_on=form.held_on.data, topic=form.topic.data,
                                       participants=form.participants.data,
                                       staff_trained=form.staff_trained.data,
                                       resource_ids=[v for v in form.resources.data or [] if v.isdigit()]),
        form=form, render=render,
        success=lambda s: f"La session du {s.held_on:%d/%m/%Y} est enregistrée.",
        then=lambda s: url_for("indicateurs.show", convention_id=convention_id,
                               annee=s.held_on.year) + "#sessions",
    )


@bp.post("/conventions/<int:convention_id>/sessions/<int:info_session_id>/supprimer")
@caisse_only
def delete_session(convention_id: int, info_session_id: int):
    caisse, partenaire = get_indicator_scope_or_404(convention_id)
    session = get_session_or_404(caisse, partenaire, info_session_id)
    year = session.held_on.year

    def render(status, refusal=None):
        context = _bilan_context(convention_id, caisse, partenaire)
        return render_template("indicateurs/show.html", **context, refusal=refusal), status

    return run(lambda: indicators.delete_session(_actor(), session), form=ActionForm(), render=render,
               success="La session est supprimée.",
               then=url_for("indicateurs.show", convention_id=convention_id, annee=year)
               + "#sessions")


@bp.get("/conventions/<int:convention_id>/bilan.<any(csv, xlsx, pdf):fmt>")
@readers
def bilan(convention_id: int, fmt: str):
    caisse, partenaire = get_indicator_scope_or_404(convention_id)
    form, period = _filters()
    figures = indicators.partner_figures(caisse.id, partenaire.id, period)
    sessions = indicators.sessions_of(caisse.id, partenaire.id, period)
    stem = f"bilan-{partenaire.name}-{caisse.code}-{period.slug}"
    if fmt == "pdf":
        from ep_web.indicateurs.pdf import bilan_pdf  # fpdf and fontTools: only in a worker that makes one

        body = bilan_pdf(caisse, partenaire, period, figures, sessions)
        audit.record("export", _actor(), what="bilan", format="pdf", rows=1, caisse_id=caisse.id,
                     partenaire_id=partenaire.id)
        response = Response(body, content_type="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{exports.filename(stem, "pdf")}"'
    else:
        response = exports.export_response(fmt, stem=stem, headers=indicators.BILAN_HEADERS,
                                           rows=indicators.bilan_rows(figures, sessions), actor=_actor(),
                                           what="bilan", sheet_title="Bilan", caisse_id=caisse.id,
                                           partenaire_id=partenaire.id)
    commit()
    return response


# ---------------------------------------------------------------- statistics (charts)


@bp.get("/statistiques")
@readers
def statistics():
    form, period = _filters()
    actor = _actor()
    if actor.profile == Profile.GESTIONNAIRE:
        caisses = indicators.caisses_for(actor)
        form.caisse.choices = [(str(c.id), c.name) for c in caisses]
        chosen = next((c for c in caisses if str(c.id) == (form.caisse.data or "")), caisses[0] if caisses else None)
        if chosen is None:
            abort(404)
        scope = dict(caisse_ids=[chosen.id], partenaire_ids=[actor.partenaire_id])
        title = f"{actor.partenaire.name} — {chosen.name}"
        caisse = chosen
    else:
        caisses = indicators.caisses_for(actor)
        form.caisse.choices = [("", "Toutes les caisses")] + [(str(c.id), c.name) for c in caisses]
        try:
            caisse_id = int(form.caisse.data) if form.caisse.data else None
        except ValueError:
            caisse_id = None
        caisse = get_caisse_scope_or_404(caisse_id)
        scope = dict(caisse_ids=[caisse.id] if caisse else None, partenaire_ids=None)
        title = caisse.name if caisse else "Toutes les caisses"
    name = request.args.get("graphique")
    # A chart's CSV computes that chart alone.
    chart_list = charts.scope_charts(period, **scope, quotas_of=caisse if actor.profile != Profile.GESTIONNAIRE
                                     else None, only=name or None)
    if name:
        chart = next(iter(chart_list), None)
        if chart is None:
            abort(404)
        response = exports.export_response("csv", stem=f"{chart.slug}-{period.slug}", headers=chart.table_headers,
                                           rows=chart.table_rows, actor=actor, what="statistiques",
                                           chart=chart.slug)
        commit()
        return response
    query = _query_args(form)
    return render_template("indicateurs/statistics.html", form=form, period=period, charts=chart_list,
                           title=title, caisse=caisse, query=query,
                           csv_url=lambda chart: url_for("indicateurs.statistics", **dict(query, graphique=chart.slug)))
