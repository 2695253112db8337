"""SPEC §8 in the browser (Debian Chromium): a technicien writes half a
demande, the draft is saved as they type, the session idles out (the real
timeout, on the served app's frozen clock), the submission is kept, and the
next login reopens the form with every field."""
import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.plugins.browser import axe_check, current_code, log_in

pytestmark = pytest.mark.browser


def test_half_a_demande_survives_the_idle_timeout(page, live_server):
    clock = live_server.freeze()
    with live_server.seed() as make:
        w = make.world()
        login = w.technicien.login
        caisse_id = w.caisse.id
        departement = w.caisse.departements.split(",")[0]
    log_in(page, login)
    page.goto("/demandes/nouvelle/contact")
    page.locator("#caisse_id").select_option(str(caisse_id))
    page.locator('[name="departement"]').fill(departement)
    page.locator('[name="nom"]').fill("Brouillonne")
    page.locator('[name="prenom"]').fill("Alix")
    page.locator('[name="date_naissance"]').fill("1961-03-12")
    page.locator('[name="subject"]').fill("Carte Vitale")
    page.locator('[name="message"]').fill("La personne attend sa carte depuis trois mois.")
    expect(page.get_by_test_id("draft-status")).to_contain_text("Brouillon enregistré", timeout=15000)

    clock.advance(minutes=live_server.app.config["SESSION_IDLE_MINUTES"] + 1)
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_load_state()
    assert "/connexion" in page.url
    expect(page.locator("#flash, main").first).to_contain_text("gardée en brouillon")

    page.get_by_role("textbox", name="Identifiant").fill(login)
    page.get_by_role("textbox", name="Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    if page.url.endswith("/connexion/code"):
        page.get_by_label("Code de vérification").fill(current_code(None, login))
        page.get_by_role("button", name="Valider").click()
        page.wait_for_load_state()
    assert "/demandes/nouvelle/contact" in page.url
    expect(page.locator('[name="nom"]')).to_have_value("Brouillonne")
    expect(page.locator('[name="prenom"]')).to_have_value("Alix")
    expect(page.locator('[name="subject"]')).to_have_value("Carte Vitale")
    expect(page.locator('[name="message"]')).to_have_value("La personne attend sa carte depuis trois mois.")
    expect(page.locator('[name="departement"]')).to_have_value(departement)
    expect(page.get_by_test_id("draft-status")).to_contain_text("repris")

    page.goto("/demandes/brouillons")
    expect(page.get_by_test_id("drafts")).to_contain_text("Alix Brouillonne")
    assert axe_check(page) == []
