"""The indicators computed by hand on the small world of conftest.py, compared
with the domain, the pages and the exports — with and without the night's
rollup (exact either way), after the retention purge (purged demandes still
count), with a demande that changed caisse."""
import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from ep_web.domain import indicators, statistics
from ep_web.domain.indicators import Period, year_period
from ep_web.extensions import db
from ep_web.models import Demande, Outcome, StatDay
from tests.indicateurs.conftest import sessions

P2025_AT_A = dict(created=4, signalements=2, closed=4, mas=1, parcours=1, soins=1, prevention=0, sla_met=2,
                  sla_missed=1, complements=1, sessions=1, participants=20, trained=5)


def _check(fig, expected):
    assert fig.created == expected["created"]
    assert fig.signalements == expected["signalements"]
    assert fig.closed == expected["closed"]
    assert fig.outcome(Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT) == expected["mas"]
    assert fig.outcome(Outcome.PARCOURS_CREE) == expected["parcours"]
    assert fig.outcome(Outcome.PARCOURS_CLOTURE_SOINS) == expected["soins"]
    assert fig.outcome(Outcome.EXAMEN_PREVENTION) == expected["prevention"]
    assert (fig.values["sla_met"], fig.values["sla_missed"]) == (expected["sla_met"], expected["sla_missed"])
    assert fig.values["complements"] == expected["complements"]
    assert (fig.sessions, fig.participants, fig.staff_trained) == (expected["sessions"], expected["participants"],
                                                                   expected["trained"])


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "after-the-night"])
def test_partner_figures_by_hand(world, rolled, request):
    if rolled:
        request.getfixturevalue("nightly")
        assert db.session.get(Demande, world.purged_ids[0]) is None  # purged, still counted below
    sessions(world)
    w = world
    fig = indicators.partner_figures(w.a.id, w.p.id, year_period(2025))
    _check(fig, P2025_AT_A)
    # Closure delays 3, 4, 4 and 10 days: the median is 4 days.
    assert fig.median_close() == "4 jours"
    assert fig.sla_label == "67 %"
    assert fig.complements_per_100 == 25.0
    # d5 was sent at B (counted there), then went on to A.
    at_b = indicators.partner_figures(w.b.id, w.p.id, year_period(2025))
    assert (at_b.created, at_b.closed, at_b.values["moved_out"]) == (1, 0, 1)
    assert fig.values["moved_in"] == 1
    # 2026: d7 (today, read live) and d8 sent; d3 (sent on 31 December 2025, 23:30 Paris) closed.
    p26 = indicators.partner_figures(w.a.id, w.p.id, year_period(2026))
    _check(p26, dict(created=2, signalements=1, closed=1, mas=0, parcours=0, soins=0, prevention=0, sla_met=0,
                     sla_missed=0, complements=0, sessions=1, participants=8, trained=8))
    assert p26.sla_label == "—"  # d8's 48 hours are not over
    q26 = indicators.partner_figures(w.a.id, w.q.id, year_period(2026))
    _check(q26, dict(created=1, signalements=1, closed=1, mas=0, parcours=0, soins=0, prevention=1, sla_met=0,
                     sla_missed=1, complements=0, sessions=0, participants=0, trained=0))
    # A date range across the years: d3 (31/12) to d3's closure (2/1).
    span = indicators.partner_figures(w.a.id, w.p.id, Period(date(2025, 12, 31), date(2026, 1, 2)))
    assert (span.created, span.closed) == (1, 1)


def test_backlog_follows_the_demande_that_changed_caisse(world, nightly):
    w = world
    # End of 2025: P's open demandes at A are d3 only; at B none (d5 left).
    assert statistics.backlog_before(date(2026, 1, 1), caisse_ids=[w.a.id], partenaire_ids=[w.p.id]) == 1
    assert statistics.backlog_before(date(2026, 1, 1), caisse_ids=[w.b.id]) == 0
    # Now: d7 and d8 open for P at A.
    assert statistics.backlog_before(date(2026, 3, 3), caisse_ids=[w.a.id], partenaire_ids=[w.p.id]) == 2


def test_the_rollup_is_idempotent_and_keeps_no_person(world, nightly):
    def snapshot():
        return [(r.day, r.caisse_id, r.partenaire_id, r.service, r.outcome, r.created, r.closed)
                for r in db.session.scalars(db.select(StatDay).order_by(StatDay.day, StatDay.caisse_id,
                                                                       StatDay.service, StatDay.outcome))]

    before = snapshot()
    assert before  # the rollup wrote rows
    assert statistics.rollup() == {"days": 0, "rows": 0, "months": 0}
    # A forced re-run of past days whose demandes the purge may have removed is refused: it
    # would take the purged demandes out of the counts.
    with pytest.raises(ValueError):
        statistics.rollup_days(date(2025, 3, 1), date(2025, 12, 31))
    # Recent days (within the retention period) may be rolled again: nothing changes.
    assert statistics.rollup_days(date(2026, 1, 1), date(2026, 3, 1)) >= 1
    db.session.flush()
    assert snapshot() == before
    _check(indicators.partner_figures(world.a.id, world.p.id, year_period(2025)), P2025_AT_A | dict(
        sessions=0, participants=0, trained=0))
    columns = set(StatDay.__table__.columns.keys())
    assert not columns & {"nom", "prenom", "reference", "date_naissance", "nom_search"}


def test_caisse_table_sort_and_filters(world, nightly):
    sessions(world)
    w = world
    rows = indicators.partner_table_page(w.a, year_period(2026), sort="demandes", descending=True)[0]
    assert [r.partenaire.name for r in rows] == ["Accueil Fictif", "Centre Exemple"]
    assert [r.departement for r in rows] == ["74", "73"]
    assert [r.partenaire.name for r in indicators.partner_table_page(w.a, year_period(2026), departement="73")[0]] == [
        "Centre Exemple"]
    assert indicators.partner_table_page(w.a, year_period(2026), type_="ase")[0] == []
    national = {r.caisse.name: r for r in indicators.caisse_table(year_period(2026))}
    assert national["CPAM Alpha"].figures.created == 3 and national["CPAM Alpha"].figures.closed == 2
    assert national["CPAM Alpha"].figures.outcome(Outcome.EXAMEN_PREVENTION) == 1
    assert national["CPAM Bêta"].figures.created == 0


def _csv(resp):
    assert resp.status_code == 200, resp.status_code
    text = resp.get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_pages_and_exports_show_the_hand_computed_figures(world, nightly, client, login):
    sessions(world)
    w = world
    login(w.admin_a)
    page = client.get("/indicateurs?annee=2025").get_data(as_text=True)
    assert "Accueil Fictif" in page and "Centre Exemple" in page and "67 %" in page
    rows = _csv(client.get("/indicateurs/export.csv?annee=2025"))
    header, p_row = rows[0], next(r for r in rows if r[0] == "Accueil Fictif")
    got = dict(zip(header, p_row))
    assert got["Demandes envoyées"] == "4" and got["Signalements"] == "2"
    assert got["Détections transmises à la Mission accompagnement santé"] == "1"
    assert got["Parcours créés"] == "1" and got["Parcours clôturés avec soins réalisés"] == "1"
    assert got["Signalements pris en charge sous 48 h (%)"] == "67"
    assert (got["Sessions d'information"], got["Participants"], got["Personnes formées"]) == ("1", "20", "5")
    xlsx = client.get("/indicateurs/export.xlsx?annee=2025")
    ws = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(2, ws.max_row + 1)}
    assert values["Accueil Fictif"][3:6] == [4, 2, 1]
    bilan = client.get(f"/indicateurs/conventions/{_conv(w.p, w.a)}?annee=2025").get_data(as_text=True)
    assert "Bilan du partenariat" in bilan and "4 jours" in bilan and "Présentation" in bilan
    lines = {(r[0], r[1]): r[2] for r in _csv(client.get(
        f"/indicateurs/conventions/{_conv(w.p, w.a)}/bilan.csv?annee=2025"))[1:]}
    assert lines[("Signalements", "Parcours créés")] == "1"
    assert lines[("Signalements", "Pris en charge sous 48 h (%)")] == "67"
    assert lines[("Demandes", "Compléments demandés pour 100 demandes")] == "25.0"
    pdf = client.get(f"/indicateurs/conventions/{_conv(w.p, w.a)}/bilan.pdf?annee=2025")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    from ep_web.models import AuditEvent

    exported = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert {e.details["what"] for e in exported} == {"indicateurs", "bilan"} and len(exported) == 4


def test_who_sees_what(world, nightly, app, login):
    w = world

    def as_(account):
        return login(account, c=app.test_client())

    url_p_a = f"/indicateurs/conventions/{_conv(w.p, w.a)}"
    url_q_a = f"/indicateurs/conventions/{_conv(w.q, w.a)}"
    client = as_(w.admin_b)
    assert client.get(url_q_a).status_code == 404  # Q has no convention with B
    assert client.get(url_p_a).status_code == 404  # B reads P's figures at B only
    assert client.get(f"/indicateurs/conventions/{_conv(w.p, w.b)}").status_code == 200
    assert client.get(f"/indicateurs?caisse={w.a.id}").status_code == 404
    client = as_(w.gp)
    page = client.get("/indicateurs").get_data(as_text=True)
    assert "CPAM Alpha" in page and "CPAM Bêta" in page and "Centre Exemple" not in page
    assert client.get(url_p_a).status_code == 200
    assert client.get(url_q_a).status_code == 404
    own = _csv(client.get("/indicateurs/export.csv?annee=2026"))
    assert [r[0] for r in own[1:]] == ["CPAM Alpha", "CPAM Bêta"] and own[1][1] == "2"
    stats = client.get(f"/indicateurs/statistiques?caisse={w.a.id}&annee=2026").get_data(as_text=True)
    assert "Accueil Fictif" in stats and "Centre Exemple" not in stats
    client = as_(w.tp)
    assert client.get("/indicateurs").status_code == 403
    client = as_(w.national)
    assert client.get(url_q_a).status_code == 200
    assert "CPAM Bêta" in client.get("/indicateurs?annee=2026").get_data(as_text=True)


def test_statistics_page_and_chart_csv(world, nightly, client, login):
    w = world
    login(w.admin_a)
    page = client.get("/indicateurs/statistiques?annee=2025")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<svg") >= 5 and "Données du graphique" in html
    rows = _csv(client.get("/indicateurs/statistiques?annee=2025&graphique=volumes"))
    by_month = {r[0]: r[-1] for r in rows[1:]}
    # Sent at A in 2025: d1 (March), d4 (April), d2 (June), d3 (December); d5 was sent at B.
    assert by_month == {"janv.": "0", "févr.": "0", "mars": "1", "avr.": "1", "mai": "0", "juin": "1",
                        "juil.": "0", "août": "0", "sept.": "0", "oct.": "0", "nov.": "0", "déc.": "1"}
    backlog = _csv(client.get("/indicateurs/statistiques?annee=2025&graphique=en-cours"))
    assert backlog[-1] == ["déc.", "1"]  # d3


def test_a_chart_alone_is_the_chart_of_the_page(world, nightly):
    """A chart's CSV computes that chart alone (charts.scope_charts(only=...)):
    each slug gives the same chart as the whole page's, an unknown one none."""
    from ep_web import charts

    w = world
    for scope in (dict(caisse_ids=[w.a.id], quotas_of=w.a), dict(), dict(caisse_ids=[w.a.id],
                                                                          partenaire_ids=[w.p.id])):
        every = charts.scope_charts(year_period(2025), **scope)
        assert len(every) >= 7
        for chart in every:
            alone = charts.scope_charts(year_period(2025), **scope, only=chart.slug)
            assert [(c.slug, c.table_headers, c.table_rows) for c in alone] == [
                (chart.slug, chart.table_headers, chart.table_rows)]
        assert charts.scope_charts(year_period(2025), **scope, only="inconnu") == []


def test_a_partner_chart_csv(world, nightly, client, login):
    w = world
    login(w.admin_a)
    url = f"/indicateurs/conventions/{_conv(w.p, w.a)}/graphiques"
    rows = _csv(client.get(f"{url}/volumes.csv?annee=2025"))
    assert rows[0][0] == "Mois" and sum(int(r[-1]) for r in rows[1:]) == 4
    assert client.get(f"{url}/inconnu.csv?annee=2025").status_code == 404


def test_session_form_rules(world, app, client, login):
    w = world
    login(w.admin_a)
    url = f"/indicateurs/conventions/{_conv(w.p, w.a)}/sessions"
    token = _csrf(client, f"/indicateurs/conventions/{_conv(w.p, w.a)}")
    bad = client.post(url, data={"csrf_token": token, "held_on": "2026-03-01", "topic": "Atelier",
                                 "participants": "5", "staff_trained": "9"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "au plus 5" in html and 'value="Atelier"' in html
    future = client.post(url, data={"csrf_token": token, "held_on": "2026-04-01", "topic": "Atelier",
                                    "participants": "5"})
    assert future.status_code == 422 and "futur" in future.get_data(as_text=True)
    words = client.post(url, data={"csrf_token": token, "held_on": "hier", "topic": "Atelier", "participants": "x"})
    assert words.status_code == 422 and "nombre entier" in words.get_data(as_text=True)
    ok = client.post(url, data={"csrf_token": token, "held_on": "01/03/2026", "topic": "Atelier",
                                "participants": "5", "staff_trained": "2"})
    assert ok.status_code == 303
    assert indicators.partner_figures(w.a.id, w.p.id, year_period(2026)).staff_trained == 2
    client = login(w.gp, c=app.test_client())
    token = _csrf(client, f"/indicateurs/conventions/{_conv(w.p, w.a)}")
    refused = client.post(url, data={"csrf_token": token, "held_on": "01/03/2026", "topic": "Atelier",
                                     "participants": "5"})
    assert refused.status_code == 403


def _conv(partenaire, caisse):
    return indicators.conventions_of(partenaire.id, caisse.id)[0].id


def _csrf(client, url):
    import re

    html = client.get(url).get_data(as_text=True)
    found = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    return found.group(1)


def test_usual_delay_on_the_new_demande_page(app, make, clock, login, client):
    from tests.indicateurs.conftest import demande, paris

    caisse = make.caisse()
    p = make.partenaire(caisse)
    t = make.technicien(p)
    # Nine contacts closed in 2 days at the caisse over the last 90 days: too few to say anything.
    for i in range(9):
        demande(p, caisse, t, "contact", paris(2026, 1, 10 + i), taken=paris(2026, 1, 11 + i),
                closed=paris(2026, 1, 12 + i), outcome=Outcome.TRAITEE)
    login(t)
    html = client.get(f"/demandes/nouvelle?caisse_id={caisse.id}").get_data(as_text=True)
    assert "la moitié de ces demandes" not in html
    # A tenth, closed in 5 days; an older one (outside the 90 days) does not count.
    demande(p, caisse, t, "contact", paris(2026, 2, 1), closed=paris(2026, 2, 6), outcome=Outcome.TRAITEE)
    demande(p, caisse, t, "contact", paris(2025, 10, 1), closed=paris(2025, 10, 30), outcome=Outcome.TRAITEE)
    html = client.get(f"/demandes/nouvelle?caisse_id={caisse.id}").get_data(as_text=True)
    assert ("Ces trois derniers mois, la caisse a clôturé la moitié de ces demandes en 2 jours ou moins "
            "(une observation, pas un engagement).") in html
    assert html.count("la moitié de ces demandes") == 1  # only the contact service has enough


@pytest.mark.parametrize("sort", ["nom", "departement", "demandes", "signalements"])
def test_a_page_of_the_table_has_the_whole_tables_figures(world, nightly, sort):
    """The page is cut before its figures are read (sorted by name, type or
    département) or after (sorted by a figure): the same rows either way."""
    sessions(world)
    w = world

    def line(r):
        f = r.figures
        return (r.partenaire.name, f.created, f.signalements, f.closed, f.values["sla_met"], f.sla_label,
                *[f.outcome(o) for o, _ in indicators.FOLLOWED], f.sessions, f.staff_trained)

    for period in (year_period(2025), year_period(2026)):
        whole = [line(r) for r in indicators.partner_table_page(w.a, period, sort=sort, descending=True)[0]]
        assert len(whole) == 2 and any(x[1] for x in whole)
        pages = []
        for number in (1, 2, 3):
            rows, count, shown = indicators.partner_table_page(w.a, period, sort=sort, descending=True,
                                                               page=number, size=1)
            assert count == 2 and shown == min(number, 2)
            pages.append([line(r) for r in rows])
        assert pages[0] + pages[1] == whole and pages[2] == pages[1]


def test_accounts_chart_counts_the_seats_against_the_quota(world, nightly, client, login):
    """The 'comptes' chart of a caisse: each partner's techniciens and
    gestionnaires holding a seat, against the quota its members set (SPEC §3)."""
    from ep_web.domain.quotas import quota_for

    w = world
    login(w.admin_a)
    rows = _csv(client.get("/indicateurs/statistiques?annee=2026&graphique=comptes"))
    assert rows[0] == ["Structure", "Techniciens", "Quota techniciens", "Gestionnaires", "Quota gestionnaires"]
    expected = [[p.name, "1", str(quota_for(p.members).techniciens), "1", str(quota_for(p.members).gestionnaires)]
                for p in (w.p, w.q)]
    assert sorted(rows[1:]) == sorted(expected)
