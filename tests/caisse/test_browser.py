"""The référent partenariat's main journey in a real browser: the htmx filter,
a 422 refusal shown in place, an inline inactivation that swaps its row, no
CSP violation, no serious accessibility violation."""
import re

import pytest

from ep_web.domain.requests import file_request
from ep_web.models import AccountStatus, RequestKind
from ep_web.transaction import commit
from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect




def test_referent_journey(page, live_server, smtp_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        partenaire = make.partenaire(caisse, members=8, name="CCAS de Valmont-sur-Essai")
        make.partenaire(caisse, name="Association Lumière fictive")
        g1, _g2 = make.gestionnaire(partenaire), make.gestionnaire(partenaire)  # 8 members: 2 / 2
        tech = make.technicien(partenaire, manager_id=g1.id)
        admin = make.admin_caisse(caisse)
        file_request(g1, caisse, RequestKind.CREATION, data={
            "civilite": "M.", "nom": "Demande", "prenom": "Bruno", "fonction": "Directeur",
            "telephone": "04 50 00 00 02", "email": f"bruno@{partenaire.domain_list[0]}"})
        commit()
        ids = dict(p=partenaire.id, tech=tech.id, tech_name=tech.full_name, login=admin.login,
                   domain=partenaire.domain_list[0])

    _log_in(page, ids["login"])
    page.get_by_role("link", name="Partenaires", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Partenaires de la caisse")
    axe_check(page)

    # The filter updates the list in place and the address bar.
    page.get_by_role("searchbox", name="Rechercher une structure par son nom").fill("lumi")
    expect(page.locator("#partenaires-results")).not_to_contain_text("CCAS de Valmont-sur-Essai")
    expect(page.locator("#partenaires-results")).to_contain_text("Association Lumière fictive")
    expect(page).to_have_url(re.compile(r"\?q=lumi"))
    page.get_by_role("searchbox", name="Rechercher une structure par son nom").fill("")
    page.get_by_role("link", name="CCAS de Valmont-sur-Essai").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("CCAS de Valmont-sur-Essai")
    expect(page.locator("#quotas")).to_contain_text("gestionnaires 2 / 2 · techniciens 1 / 5")
    axe_check(page)
    screenshot(page, "caisse-partenaire")

    # A third gestionnaire: the quota refusal, with what was typed kept.
    form = page.locator("form", has=page.get_by_role("button", name="Créer le gestionnaire"))
    form.get_by_text("Madame").click()
    form.get_by_role("textbox", name="Nom", exact=True).fill("Troisième")
    form.get_by_role("textbox", name="Prénom").fill("Zoé")
    form.get_by_role("textbox", name=re.compile("^Téléphone")).fill("04 50 00 00 09")
    form.get_by_role("textbox", name=re.compile("^Adresse e-mail")).fill(f"zoe@{ids['domain']}")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        form.get_by_role("button", name="Créer le gestionnaire").click()
    assert info.value.status == 422
    page.wait_for_load_state()
    expect(page.get_by_role("alert").filter(has_text="Quota atteint : 2 / 2 gestionnaires")).to_be_visible()
    expect(page.get_by_role("textbox", name="Prénom")).to_have_value("Zoé")

    # Inline inactivation (htmx): confirm, then only the row and the quotas change.
    row = page.locator(f"#compte-{ids['tech']}")
    row.locator("summary").click()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("textbox", name=re.compile("^Motif")).fill("Poste de travail volé")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        row.get_by_role("button", name="Inactiver maintenant").click()
    assert info.value.status == 200 and info.value.request.headers.get("hx-request") == "true"
    expect(page.locator(f"#compte-{ids['tech']}")).to_contain_text("Inactif")
    expect(page.locator(f"#compte-{ids['tech']}")).to_contain_text("Poste de travail volé")
    expect(page.locator("#quotas")).to_contain_text("techniciens 0 / 5")
    expect(page.get_by_role("textbox", name="Prénom")).to_have_value("Zoé")  # the page was not reloaded
    axe_check(page)

    with live_server.seed():
        from ep_web.extensions import db
        from ep_web.models import Account

        assert db.session.get(Account, ids["tech"]).status == AccountStatus.INACTIVE

    page.goto("/caisse/partenaires/nouveau")
    axe_check(page)
    screenshot(page, "caisse-nouveau-partenaire")
    page.goto("/caisse/demandes")
    axe_check(page)
    page.get_by_role("link", name=re.compile("^Nouveau gestionnaire")).click()
    expect(page.get_by_role("textbox", name="Nom", exact=True)).to_have_value("Demande")
    axe_check(page)
    screenshot(page, "caisse-demande")
    page.goto("/caisse/agents")
    axe_check(page)


def test_caisse_pages_fit_a_phone(page, live_server):
    """At 390 px the référent's pages do not scroll sideways: wide tables
    scroll inside their DSFR wrapper."""
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        partenaire = make.partenaire(caisse, members=8, name="CCAS de Valmont-sur-Essai")
        g1 = make.gestionnaire(partenaire)
        make.technicien(partenaire, manager_id=g1.id)
        admin = make.admin_caisse(caisse)
        login, pid = admin.login, partenaire.id
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page, login)
    for path in ("/caisse/partenaires", f"/caisse/partenaires/{pid}"):
        page.goto(path)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at 390 px"
