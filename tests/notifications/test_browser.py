"""The journey of issue « À traiter » in a real browser (SPEC §6): an agent
asks a complement → the author's and a follower's bells count it → the author
opens it from « À traiter » → answers → the agent's « la structure a répondu »
tab counts it. axe-core on every new page; the bell by keyboard only."""
import re

import pytest

from ep_web.domain import demandes as dm
from ep_web.domain import notifications
from ep_web.transaction import commit
from tests.plugins.browser import axe_check, log_in, require_playwright
from tests.traitement.conftest import DEPARTEMENT, DETAILS, PERSON

pytestmark = pytest.mark.browser
expect = require_playwright().expect


def log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click(force=True)
    page.wait_for_url("**/connexion")


def bell_count(page):
    return page.locator("header").get_by_test_id("bell-count").first


def test_complement_journey_through_bells_home_and_cockpit(page, live_server, screenshot):
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", departements=DEPARTEMENT)
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        author = make.technicien(partenaire, prenom="Alix", nom="Auteurfictif")
        follower = make.technicien(partenaire, prenom="Gaby", nom="Suiveurfictif")
        agent = make.agent(caisse)
        demande = dm.create_demande(author, dm.DemandeInput(
            service="contact", caisse_id=caisse.id, departement=DEPARTEMENT, details=dict(DETAILS["contact"]),
            **PERSON))
        notifications.follow(follower, demande)
        commit()
        ids = dict(author=author.login, follower=follower.login, agent=agent.login, ref=demande.reference,
                   demande_id=demande.id)

    # 1. The agent asks a complement from the demande page.
    log_in(page, ids["agent"])
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Bonjour"))
    axe_check(page)  # the agent's « À traiter »
    page.goto(f"/traitement/demandes/{ids['demande_id']}")
    page.get_by_label("Ce qui manque pour traiter la demande").fill("Merci de joindre l'avis d'imposition.")
    page.get_by_role("button", name="Demander le complément").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Complément demandé par la caisse")
    log_out(page)

    # 2. The follower's bell counts it.
    log_in(page, ids["follower"])
    expect(bell_count(page)).to_have_text("1")
    log_out(page)

    # 3. The author's bell counts it; the author opens it from « À traiter » and answers.
    log_in(page, ids["author"])
    expect(bell_count(page)).to_have_text("1")
    expect(page.get_by_test_id("count-complements_mine")).to_have_text("1")
    axe_check(page)  # the technicien's « À traiter »
    screenshot(page, "a-traiter-technicien")
    page.get_by_test_id("counter-complements_mine").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"status=attente_complement"))
    page.get_by_role("link", name=re.compile(ids["ref"])).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Demande {ids['ref']}")
    # Opening the demande read its notification.
    expect(page.locator("header").get_by_test_id("bell-count")).to_have_count(0)
    page.get_by_label("Votre message").fill("Voici l'avis d'imposition demandé.")
    page.get_by_role("button", name="Envoyer le complément").click()
    expect(page.locator("#flash")).to_contain_text("Votre complément est transmis à la caisse.")
    log_out(page)

    # 4. The agent's « la structure a répondu » tab counts it, on the home and in the queue.
    log_in(page, ids["agent"])
    expect(page.get_by_test_id("count-reponse-partenaire")).to_have_text("1")
    page.get_by_test_id("counter-reponse-partenaire").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/traitement\?onglet=reponse-partenaire"))
    expect(page.get_by_test_id("tab-reponse-partenaire")).to_contain_text("1")
    expect(page.get_by_test_id("queue-row")).to_have_count(1)
    expect(page.get_by_test_id("queue-row").first).to_contain_text(ids["ref"])
    axe_check(page)
    screenshot(page, "cockpit")


def test_bell_and_centre_by_keyboard_only_and_accessible(page, live_server, screenshot):
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(departements=DEPARTEMENT)
        partenaire = make.partenaire(caisse)
        author = make.technicien(partenaire)
        agent = make.agent(caisse)
        demande = dm.create_demande(author, dm.DemandeInput(
            service="contact", caisse_id=caisse.id, departement=DEPARTEMENT, details=dict(DETAILS["contact"]),
            **PERSON))
        dm.request_complement(agent, demande, "Il manque un justificatif.")
        commit()
        ids = dict(author=author.login, ref=demande.reference, demande_id=demande.id)

    log_in(page, ids["author"])
    # Tab from the top of the page until the bell has the focus; Enter opens the centre.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "ep-bell":
            break
    else:
        pytest.fail("the bell is not reachable with Tab")
    expect(page.locator("#ep-bell")).to_have_accessible_name(re.compile(r"Notifications\s*1 non lue"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    axe_check(page)
    screenshot(page, "notifications")
    # Tab to the notification and open it with Enter: it leads to the demande and is read.
    link = page.get_by_role("link", name=re.compile(f"Demande {ids['ref']}"))
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.textContent") \
                and link.evaluate("(el) => el === document.activeElement"):
            break
    else:
        pytest.fail("the notification is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/demandes/{ids['demande_id']}$"))
    expect(page.locator("header").get_by_test_id("bell-count")).to_have_count(0)
    # « Mon compte »: the preferences, by keyboard too.
    page.goto("/compte/notifications")
    axe_check(page)
    page.get_by_label("Immédiatement").first.focus()
    page.keyboard.press("ArrowDown")  # the radio group: the next choice, « Dans un résumé quotidien »
    expect(page.get_by_label("Dans un résumé quotidien").first).to_be_checked()
    page.get_by_role("button", name="Enregistrer mes préférences").press("Enter")
    expect(page.locator("#flash")).to_contain_text("Vos préférences de notification sont enregistrées.")
