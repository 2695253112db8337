"""The indicators in a real browser: the caisse's referent enters an information
session, opens the partner's bilan, sees the charts and the table, downloads
the XLSX and the PDF; the partner's gestionnaire sees only its own figures.
axe-core finds no violation at all (any impact) on these pages."""
import re
from datetime import timedelta

import pytest

from ep_web.clock import now, to_paris
from ep_web.models import Outcome
from tests.indicateurs.conftest import demande
from tests.plugins.browser import axe_violations, format_violations, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect
ALL_IMPACTS = ("minor", "moderate", "serious", "critical")


def _axe(page):
    violations = axe_violations(page, impacts=ALL_IMPACTS)
    assert not violations, f"axe-core on {page.url}:\n{format_violations(violations)}"


def _log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_load_state()


def test_bilan_journey(page, live_server, screenshot):
    from ep_web.domain import statistics
    from ep_web.extensions import db

    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai", address="1 rue Fictive, 74000 Valmont")
        q = make.partenaire(caisse, name="Centre Voisin Fictif", address="2 rue Fictive, 73000 Ailleurs")
        tp, tq = make.technicien(p), make.technicien(q)
        start = now() - timedelta(days=min(120, to_paris(now()).timetuple().tm_yday - 1))
        for i in range(12):
            at = start + timedelta(days=i * 9)
            demande(p, caisse, tp, "signalement", at, taken=at + timedelta(hours=20),
                    closed=at + timedelta(days=3), outcome=Outcome.PARCOURS_CREE)
            demande(p, caisse, tp, "contact", at, taken=at + timedelta(days=1), closed=at + timedelta(days=2),
                    outcome=Outcome.TRAITEE)
        demande(q, caisse, tq, "contact", start, taken=start + timedelta(days=1), closed=start + timedelta(days=5),
                outcome=Outcome.TRAITEE)
        statistics.rollup()
        db.session.commit()
        ids = dict(admin=make.admin_caisse(caisse).login, gp=make.gestionnaire(p).login)

    _log_in(page, ids["admin"])
    page.get_by_role("link", name="Indicateurs").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Indicateurs de suivi des conventions")
    table = page.locator("#indicateurs-table")
    expect(table).to_contain_text("CCAS de Valmont-sur-Essai")
    expect(table).to_contain_text("Centre Voisin Fictif")
    _axe(page)
    table.get_by_role("link", name="CCAS de Valmont-sur-Essai").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bilan du partenariat")
    _axe(page)

    yesterday = (to_paris(now()) - timedelta(days=1)).date()
    page.get_by_label("Date de la session").fill(yesterday.isoformat())
    page.get_by_role("textbox", name=re.compile("^Thème")).fill("Présentation du signalement")
    page.get_by_label("Nombre de participants").fill("12")
    page.get_by_label(re.compile("^Dont personnes formées")).fill("4")
    page.get_by_role("button", name="Enregistrer la session").click()
    expect(page.locator("#flash")).to_contain_text(f"La session du {yesterday:%d/%m/%Y} est enregistrée.")
    bilan = page.locator("#indicateurs-bilan")
    expect(bilan.get_by_role("row", name=re.compile("^Sessions d'information"))).to_contain_text("1")
    expect(bilan.get_by_role("row", name=re.compile("^Personnes formées"))).to_contain_text("4")
    expect(bilan.get_by_role("row", name=re.compile("^Parcours créés"))).to_contain_text("12")
    expect(page.get_by_role("rowheader", name="Présentation du signalement")).to_be_visible()
    expect(page.locator("svg.ep-chart__svg").first).to_be_visible()
    assert page.locator("svg.ep-chart__svg").count() >= 4
    page.get_by_text("Données du graphique « Demandes envoyées par mois et par service » en tableau").click()
    expect(page.get_by_role("table", name=re.compile("Demandes envoyées par mois"))).to_be_visible()
    _axe(page)
    screenshot(page, "bilan")

    with page.expect_download() as xlsx:
        page.get_by_role("link", name="Bilan (XLSX)").click()
    assert xlsx.value.suggested_filename.endswith(".xlsx")
    assert open(xlsx.value.path(), "rb").read(2) == b"PK"
    with page.expect_download() as pdf:
        page.get_by_role("link", name=re.compile("Bilan annuel \\(PDF")).click()
    assert pdf.value.suggested_filename.endswith(".pdf")
    assert open(pdf.value.path(), "rb").read(4) == b"%PDF"

    page.goto("/indicateurs/statistiques")
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistiques")
    _axe(page)
    _log_out(page)

    _log_in(page, ids["gp"])
    page.get_by_role("link", name="Indicateurs").first.click()
    expect(page.get_by_role("heading", level=2, name="CPAM de Valmont-sur-Essai")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Centre Voisin Fictif")
    _axe(page)
    page.get_by_role("link", name="CPAM de Valmont-sur-Essai").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CCAS de Valmont-sur-Essai")
    expect(page.get_by_role("button", name="Enregistrer la session")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Centre Voisin Fictif")
    expect(page.locator("#indicateurs-bilan").get_by_role("row", name=re.compile("^Demandes envoyées"))) \
        .to_contain_text("24")
    _axe(page)
    page.goto("/indicateurs/statistiques")
    expect(page.locator("body")).not_to_contain_text("Centre Voisin Fictif")
    _axe(page)
