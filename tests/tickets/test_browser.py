"""The dysfunction ticket journey (SPEC §5) in a real browser, e-mails at a real SMTP server:
a technicien opens a ticket with a screenshot (after the health warning) → the
referent answers → the referent escalates a second ticket → admin_national
answers and resolves it → the technicien sees both statuses and received the
e-mails. axe-core on every ticket page, no CSP violation."""
import re

import pytest

from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in
from tests.tickets.test_tickets import _png

pytestmark = pytest.mark.browser
expect = require_playwright().expect




def _log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_load_state()


def _reference(page) -> str:
    heading = page.get_by_role("heading", level=1).inner_text()
    return re.search(r"T-\d{4}-\d{5}", heading).group(0)


def test_ticket_journey(page, live_server, smtp_server, screenshot, tmp_path):
    live_server.app.config.update(UPLOAD_DIR=str(tmp_path / "uploads"), CLAMD_SOCKET="", CLAMD_ADDRESS="")
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", referent_email="partenaires@valmont.example")
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        tech = make.technicien(partenaire)
        gestionnaire = make.gestionnaire(partenaire)
        admin = make.admin_caisse(caisse)
        national = make.admin_national()
        ids = dict(tech=tech.login, tech_email=tech.email, gest_email=gestionnaire.email, admin=admin.login,
                   national=national.login, national_email=national.email)
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm buttons
    shot = {"name": "capture.png", "mimeType": "image/png", "buffer": _png()}

    # 1. The technicien opens a ticket; the health warning first, then the screenshot.
    _log_in(page, ids["tech"])
    page.get_by_role("link", name="Signaler un problème").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signaler un problème du portail")
    axe_check(page)
    page.get_by_role("link", name="Signaler un problème").last.click()
    page.get_by_role("textbox", name=re.compile("^Objet")).fill("Le bouton Envoyer ne répond pas")
    page.get_by_label("Page ou service concerné").select_option("demandes")
    page.get_by_role("textbox", name=re.compile("^Précisez la page")).fill("formulaire de rendez-vous")
    page.get_by_role("textbox", name=re.compile("^Description du problème")).fill(
        "Quand je décris une situation de diabète, le formulaire se vide.")
    page.get_by_label(re.compile("^Capture d'écran")).set_input_files(shot)
    axe_check(page)
    page.get_by_role("button", name="Envoyer le signalement").click()
    warning = page.locator("#health-warning")
    expect(warning.locator("mark")).to_have_text("diabète")
    expect(page.locator("#screenshot-lost")).to_be_visible()
    expect(page.get_by_role("textbox", name=re.compile("^Objet"))).to_have_value("Le bouton Envoyer ne répond pas")
    axe_check(page)
    screenshot(page, "ticket-health-warning")
    page.locator("label[for=health_confirmed]").click()
    page.get_by_label(re.compile("^Capture d'écran")).set_input_files(shot)
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#flash")).to_contain_text("CPAM de Valmont-sur-Essai")
    first = _reference(page)
    expect(page.get_by_test_id("ticket-status")).to_have_text("Ouvert")
    expect(page.get_by_role("link", name=re.compile("Capture d'écran : capture.png"))).to_be_visible()
    axe_check(page)
    screenshot(page, "ticket-opened")

    # A second ticket, without screenshot.
    page.get_by_role("link", name="Signaler un problème").first.click()
    page.get_by_role("link", name="Signaler un problème").last.click()
    page.get_by_role("textbox", name=re.compile("^Objet")).fill("Export impossible")
    page.get_by_label("Page ou service concerné").select_option("autre")
    page.get_by_role("textbox", name=re.compile("^Description du problème")).fill(
        "L'export CSV renvoie une erreur 500.")
    page.get_by_role("button", name="Envoyer le signalement").click()
    second = _reference(page)
    assert smtp_server.wait_for("partenaires@valmont.example").subject.endswith(f"({first})")
    _log_out(page)

    # 2. The referent answers the first ticket and escalates the second.
    _log_in(page, ids["admin"])
    page.get_by_role("link", name="Tickets", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tickets des partenaires")
    axe_check(page)
    page.get_by_label("Statut").select_option("ouvert")  # the htmx filter
    expect(page).to_have_url(re.compile(r"status=ouvert"))
    page.get_by_role("link", name=first).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Ticket {first}")
    axe_check(page)
    page.get_by_role("textbox", name=re.compile("^Votre message")).fill(
        "Merci. Un correctif est prévu : en attendant, videz le cache du navigateur.")
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.locator("#flash")).to_contain_text("La réponse est envoyée")
    expect(page.get_by_test_id("ticket-status")).to_have_text("En cours")
    expect(page.get_by_test_id("ticket-thread")).to_contain_text("videz le cache")
    page.get_by_role("link", name="Tickets des partenaires").click()
    page.get_by_role("link", name=second).click()
    page.get_by_role("button", name="Escalader au support national").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Escaladé")
    expect(page.get_by_role("button", name="Marquer comme résolu")).to_have_count(0)
    axe_check(page)
    assert smtp_server.wait_for(ids["national_email"]).subject.endswith(f"({second})")
    _log_out(page)

    # 3. National support answers the escalated ticket and resolves it.
    _log_in(page, ids["national"])
    page.get_by_role("link", name="Tickets escaladés").click()
    expect(page.get_by_test_id("tickets")).not_to_contain_text(first)
    axe_check(page)
    page.get_by_role("link", name=second).click()
    page.get_by_role("textbox", name=re.compile("^Votre message")).fill("Corrigé dans la version de ce soir.")
    page.get_by_text("Marquer le ticket comme résolu avec cette réponse").click()
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("Résolu")
    axe_check(page)
    _log_out(page)

    # 4. The technicien sees both statuses, and received both answers by e-mail.
    _log_in(page, ids["tech"])
    page.get_by_role("link", name="Signaler un problème").first.click()
    table = page.get_by_test_id("tickets")
    expect(table.locator("tr", has_text=first).get_by_test_id("ticket-status")).to_have_text("En cours")
    expect(table.locator("tr", has_text=second).get_by_test_id("ticket-status")).to_have_text("Résolu")
    table.get_by_role("link", name=second).click()
    expect(page.get_by_test_id("ticket-thread")).to_contain_text("Support national")
    expect(page.get_by_role("button", name="Envoyer le message")).to_have_count(0)
    axe_check(page)
    screenshot(page, "ticket-resolved")

    smtp_server.wait_for(ids["tech_email"])
    for address in (ids["tech_email"], ids["gest_email"]):
        mails = [m for m in smtp_server.messages if address in m.to]
        subjects = " ".join(m.subject for m in mails)
        assert f"({first})" in subjects and f"({second})" in subjects, subjects
        for mail in mails:
            assert "videz le cache" not in mail.text and "diabète" not in mail.text
            assert re.search(r"/tickets/\d+", mail.text)
