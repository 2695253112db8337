"""The technicien's journey in a real browser: choose the caisse from the
person's département, write a signalement with a NIR in the comment — live
feedback while typing (htmx), refused on submit with the message next to the
field and everything typed still there — fix it and send it; then the history
filtered in place. No CSP violation, no serious accessibility violation."""
import re

import pytest

from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect

NIR = "2 84 12 74 215 032 " + f"{97 - int('2841274215032') % 97:02d}"




def test_technicien_signalement_with_a_nir_then_fixed(page, live_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont fictive", departements="74")
        other = make.caisse(name="CPAM de Rivebelle fictive", departements="73")
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-Essai")
        make.convention(partenaire, other)
        tech = make.technicien(partenaire, prenom="Camille", nom="Essai")
        login = tech.login

    _log_in(page, login)
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Nouvelle demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouvelle demande")
    # The caisse follows the person's département (htmx, URL pushed).
    page.get_by_role("textbox", name=re.compile("^Département de résidence de la personne")).fill("73")
    expect(page.locator("#services")).to_contain_text("Services ouverts par la CPAM de Rivebelle fictive")
    expect(page).to_have_url(re.compile(r"departement=73"))
    page.get_by_role("textbox", name=re.compile("^Département de résidence de la personne")).fill("74")
    expect(page.locator("#services")).to_contain_text("Services ouverts par la CPAM de Valmont fictive")
    axe_check(page)
    page.get_by_role("link", name="Signaler une situation de difficultés d'accès aux droits et aux soins").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Signaler une situation de difficultés d'accès aux droits et aux soins")
    expect(page.get_by_role("combobox", name=re.compile("^Caisse destinataire"))).to_have_value(re.compile(r"\d+"))
    expect(page.get_by_role("textbox", name=re.compile("^Département de résidence"))).to_have_value("74")
    axe_check(page)

    form = page.locator("#demande-form")
    form.get_by_text("Madame", exact=True).click()
    form.get_by_role("textbox", name="Nom", exact=True).fill("Lambert")
    form.get_by_role("textbox", name="Prénom").fill("Inès")
    form.get_by_label("Date de naissance").fill("1984-12-03")
    form.get_by_text("Accès aux droits").click()
    form.get_by_text("Renoncement aux soins").click()
    comment = form.get_by_role("textbox", name=re.compile("^Décrivez la situation de la personne"))
    comment.fill(f"Droits fermés depuis deux mois, numéro {NIR} sur le courrier.")
    # Live feedback while typing: the masked NIR, in the field's aria-live region.
    live = page.locator("#message-messages")
    expect(live).to_contain_text("numéro de sécurité sociale (NIR) : 2 84 •• •• ••• ••• ••")
    expect(live).to_contain_text("document joint")
    expect(live).not_to_contain_text("215 032")
    form.get_by_text("La personne a accepté d'être contactée par la caisse").click()
    form.get_by_text("La situation est urgente", exact=True).click()
    form.get_by_text("Droits bloqués").click()
    screenshot(page, "demande-nir-live")
    axe_check(page)

    # Submit anyway: refused next to the field, everything typed kept.
    with page.expect_response(lambda r: r.request.method == "POST" and "/demandes/nouvelle/" in r.url) as info:
        form.get_by_role("button", name="Envoyer la demande").click()
    assert info.value.status == 422
    page.wait_for_load_state()
    expect(page.get_by_role("alert").filter(has_text="La demande n'est pas envoyée")).to_be_visible()
    form = page.locator("#demande-form")
    comment = form.get_by_role("textbox", name=re.compile("^Décrivez la situation de la personne"))
    expect(comment).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#message-messages")).to_contain_text("le NIR ne doit jamais être saisi dans le portail")
    expect(comment).to_have_value(f"Droits fermés depuis deux mois, numéro {NIR} sur le courrier.")
    expect(form.get_by_role("textbox", name="Nom", exact=True)).to_have_value("Lambert")
    expect(form.get_by_role("textbox", name="Prénom")).to_have_value("Inès")
    expect(form.get_by_label("Date de naissance")).to_have_value("1984-12-03")
    expect(form.get_by_role("radio", name="Madame")).to_be_checked()
    expect(form.get_by_role("checkbox", name="Accès aux droits")).to_be_checked()
    expect(form.get_by_role("checkbox", name="Renoncement aux soins")).to_be_checked()
    expect(form.get_by_role("checkbox", name="Accès aux soins", exact=True)).not_to_be_checked()
    expect(form.get_by_role("checkbox", name="La personne a accepté d'être contactée par la caisse")).to_be_checked()
    expect(form.get_by_role("checkbox", name="La situation est urgente")).to_be_checked()
    expect(form.get_by_role("radio", name="Droits bloqués")).to_be_checked()
    screenshot(page, "demande-nir-refused")
    axe_check(page)

    # Fixed: the live message goes away, the demande is sent.
    comment.fill("Droits fermés depuis deux mois, le courrier est joint à la demande.")
    expect(page.locator("#message-messages")).not_to_contain_text("NIR")
    page.locator("#demande-form").get_by_role("button", name="Envoyer la demande").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Demande EP-\d{4}-\d{6}$"))
    reference = page.get_by_role("heading", level=1).inner_text().removeprefix("Demande ")
    expect(page.locator("#flash")).to_contain_text(f"Votre demande {reference} est transmise à la CPAM de Valmont")
    expect(page.get_by_test_id("identity")).to_contain_text("Lambert Inès")
    expect(page.get_by_test_id("urgent")).to_be_visible()
    expect(page.get_by_test_id("sla")).to_contain_text("Contact avant le")
    expect(page.get_by_test_id("timeline")).to_contain_text("Demande transmise")
    axe_check(page)
    screenshot(page, "demande-show")

    # The history, filtered in place (htmx) with the URL pushed.
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Historique").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Historique des demandes")
    expect(page.get_by_test_id("history-row")).to_have_count(1)
    axe_check(page)
    page.get_by_role("searchbox", name=re.compile("^Nom de la personne")).fill("durand")
    expect(page.locator("#history-results")).to_contain_text("Aucune demande ne correspond à ces filtres.")
    expect(page).to_have_url(re.compile(r"q=durand"))
    page.get_by_role("searchbox", name=re.compile("^Nom de la personne")).fill("lamb")
    expect(page.get_by_test_id("history-row")).to_have_count(1)
    expect(page.locator("#history-results")).to_contain_text(reference)
    page.get_by_role("combobox", name="Statut").select_option("cloturee")
    expect(page.locator("#history-results")).to_contain_text("Aucune demande ne correspond à ces filtres.")
    expect(page).to_have_url(re.compile(r"status=cloturee"))
    axe_check(page)
    screenshot(page, "demande-history")
