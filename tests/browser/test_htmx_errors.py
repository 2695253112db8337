"""htmx actions answered with an error show a DSFR alert in #flash (issue: an
htmx request answered 4xx/5xx used to swap nothing and say nothing): a 413 on an
htmx upload (the agent's document), and a 403 answered to an htmx request of
the technicien's history page. The form and what it holds stay in place."""
import re

import pytest

from ep_web.domain import demandes as dm
from ep_web.transaction import commit
from tests.plugins.browser import log_in as _log_in
from tests.plugins.browser import require_playwright
from tests.traitement.conftest import DEPARTEMENT, DETAILS, PERSON

pytestmark = pytest.mark.browser
expect = require_playwright().expect

LIMIT = 20 * 1024  # bytes: the live server's MAX_CONTENT_LENGTH for this test
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_too_large_htmx_upload_shows_an_alert(page, live_server, tmp_path):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", departements=DEPARTEMENT)
        partenaire = make.partenaire(caisse, name="UDAF de Valmont-sur-Essai", habilite_documents=True)
        tech = make.technicien(partenaire)
        agent = make.agent(caisse)
        demande = dm.create_demande(tech, dm.DemandeInput(
            service="document", caisse_id=caisse.id, departement=DEPARTEMENT, details=dict(DETAILS["document"]),
            **PERSON))
        commit()
        ids = dict(agent=agent.login, demande_id=demande.id)
    live_server.app.config["MAX_CONTENT_LENGTH"] = LIMIT
    big = tmp_path / "attestation.pdf"
    big.write_bytes(PDF + b"%" * (2 * LIMIT))

    _log_in(page, ids["agent"])
    page.goto(f"/traitement/demandes/{ids['demande_id']}")
    page.get_by_label(re.compile("^Document\\(s\\) à déposer")).set_input_files(str(big))
    with page.expect_response(lambda r: r.request.method == "POST" and "/documents" in r.url) as info:
        page.get_by_role("button", name="Déposer le document").click()
    assert info.value.status == 413
    alert = page.locator("#flash [role=alert]")
    expect(alert).to_contain_text("Fichier trop volumineux")
    expect(alert).to_contain_text("Le fichier envoyé dépasse la taille autorisée.")
    # Nothing was swapped: the demande and its form are still there.
    expect(page.get_by_role("button", name="Déposer le document")).to_be_visible()


def test_refused_htmx_request_shows_an_alert(page, live_server):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", departements=DEPARTEMENT)
        tech = make.technicien(make.partenaire(caisse, name="CCAS de Valmont-sur-Essai"))
        login = tech.login

    _log_in(page, login)
    page.goto("/demandes")
    results = page.locator("#history-results")
    before = results.inner_html()
    # A technicien has no access to the national pages: the server answers 403
    # to this htmx request, with its alert.
    with page.expect_response(lambda r: "/national/caisses" in r.url) as info:
        page.evaluate("() => htmx.ajax('GET', '/national/caisses', {target: '#history-results', swap: 'outerHTML'})")
    assert info.value.status == 403
    alert = page.locator("#flash [role=alert]")
    expect(alert).to_contain_text("Accès refusé")
    expect(alert).to_contain_text("Vous n'avez pas accès à cette page avec votre profil.")
    assert results.inner_html() == before
