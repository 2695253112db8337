"""The data-breach report journey in a real browser, e-mails at a real SMTP
server (SPEC §7): a technicien reports from the home page (a moment in the
future is refused next to the field, nothing typed is lost) → the DPO and the
admin_caisse get the e-mail → the admin_caisse qualifies, records the CNIL
decision and closes. axe-core on every page, no CSP violation."""
import re
from datetime import datetime, timedelta

import pytest

from ep_web.clock import PARIS
from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect


def test_breach_report_journey(page, live_server, smtp_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", referent_email="partenaires@valmont.example",
                             dpo_email="dpo@valmont.example")
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        tech = make.technicien(partenaire)
        admin = make.admin_caisse(caisse)
        ids = dict(tech=tech.login, admin=admin.login, admin_email=admin.email)

    # 1. The technicien reports from the home page.
    _log_in(page, ids["tech"])
    page.get_by_test_id("breach-callout").get_by_role("link", name="Signaler une violation de données").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signaler une suspicion de violation de données")
    axe_check(page)
    description = "Un ordinateur portable du service a été volé avec une session ouverte sur le portail."
    page.get_by_role("textbox", name=re.compile("^Ce qui s'est passé")).fill(description)
    ahead = datetime.now(PARIS) + timedelta(hours=2)
    page.get_by_label(re.compile("^Date")).fill(ahead.strftime("%Y-%m-%d"))
    page.get_by_label(re.compile("^Heure")).fill(ahead.strftime("%H:%M"))
    page.get_by_role("textbox", name=re.compile("^Demandes ou comptes")).fill("Les demandes ouvertes cette semaine.")
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#noticed-messages")).to_contain_text("ne peuvent pas être dans le futur")
    expect(page.get_by_role("textbox", name=re.compile("^Ce qui s'est passé"))).to_have_value(description)
    axe_check(page)
    screenshot(page, "breach-future-refused")

    noticed = datetime.now(PARIS) - timedelta(hours=2)
    page.get_by_label(re.compile("^Date")).fill(noticed.strftime("%Y-%m-%d"))
    page.get_by_label(re.compile("^Heure")).fill(noticed.strftime("%H:%M"))
    page.get_by_role("button", name="Envoyer le signalement").click()
    expect(page.locator("#flash")).to_contain_text("CPAM de Valmont-sur-Essai")
    reference = re.search(r"VD-\d{4}-\d{5}", page.get_by_role("heading", level=1).inner_text()).group(0)
    clocks = page.get_by_test_id("clocks")
    expect(clocks).to_contain_text("dans le délai de 24 h")
    expect(clocks).to_contain_text("Il reste")
    axe_check(page)
    screenshot(page, "breach-reported")

    for address in ("dpo@valmont.example", ids["admin_email"]):
        mail = smtp_server.wait_for(address)
        assert reference in mail.subject and "ordinateur" not in mail.text
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_load_state()

    # 2. The caisse's referent follows it up.
    _log_in(page, ids["admin"])
    page.get_by_role("link", name="Violation de données").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Suspicions de violation de données")
    axe_check(page)
    page.get_by_role("link", name=reference).click()
    page.get_by_text("Violation de données personnelles qualifiée").click()
    page.get_by_role("button", name="Enregistrer la qualification").click()
    expect(page.get_by_test_id("breach-status")).to_have_text("violation qualifiée")
    axe_check(page)
    page.get_by_text("Non, la CNIL n'est pas notifiée").click()
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.locator("#reason-error, .fr-error-text").first).to_be_visible()  # the reason is required
    axe_check(page)
    page.get_by_text("Non, la CNIL n'est pas notifiée").click()
    page.get_by_role("textbox", name=re.compile("^Motif")).fill("Disque chiffré, effacement à distance fait.")
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.get_by_test_id("follow-up")).to_contain_text("CNIL non notifiée")
    page.get_by_role("button", name="Clore le signalement").click()
    expect(page.get_by_test_id("breach-status")).to_have_text("close")
    expect(page.get_by_test_id("clocks")).to_contain_text("dans le délai")
    axe_check(page)
    screenshot(page, "breach-closed")
