"""News in a real browser: the referent writes one in Markdown (with a hostile
script and a javascript: link), the technicien reads it — unread mark, inert
HTML, links with rel — and subscribes to the digest. No serious axe-core
violation on the news pages, no CSP violation."""
import re

import pytest

from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect

BODY = """## Nouvelle permanence

L'accueil partenaires ouvre **le mardi matin**. Plus d'informations sur [le site de la caisse](https://www.caisse-fictive.example/partenaires).

<script>window.pwned = true</script>

[Cliquez ici](javascript:window.pwned=true)
"""




def _log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click()
    page.wait_for_load_state()


def test_news_written_read_and_digest(page, live_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        tech = make.technicien(partenaire)
        admin = make.admin_caisse(caisse)
        ids = dict(tech=tech.login, admin=admin.login)

    _log_in(page, ids["admin"])
    page.get_by_role("link", name="Actualités").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Actualités de la caisse")
    axe_check(page)
    page.get_by_role("link", name="Rédiger une actualité").click()
    page.get_by_role("textbox", name="Titre", exact=True).fill("Permanence du mardi")
    page.get_by_role("textbox", name=re.compile("^Texte")).fill(BODY)
    axe_check(page)
    page.get_by_role("button", name="Publier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Permanence du mardi")
    expect(page.get_by_test_id("news-body")).to_contain_text("le mardi matin")
    axe_check(page)
    _log_out(page)

    _log_in(page, ids["tech"])
    page.get_by_role("link", name="Actualités").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Actualités de vos caisses")
    listing = page.get_by_test_id("news-list")
    expect(listing).to_contain_text("Non lue")
    axe_check(page)
    screenshot(page, "news-list")
    listing.get_by_role("link", name="Permanence du mardi").click()
    body = page.get_by_test_id("news-body")
    expect(body.get_by_role("heading", level=2)).to_have_text("Nouvelle permanence")
    link = body.get_by_role("link", name="le site de la caisse")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(body).to_contain_text("<script>window.pwned = true</script>")  # shown as text, never run
    expect(body.get_by_role("link", name="Cliquez ici")).to_have_count(0)
    assert page.evaluate("() => window.pwned === undefined")
    axe_check(page)
    screenshot(page, "news-show")

    page.get_by_role("link", name="Toutes les actualités").click()
    expect(page.get_by_test_id("news-list")).not_to_contain_text("Non lue")
    page.get_by_role("button", name="M'abonner au résumé par e-mail").click()
    expect(page.locator("#flash")).to_contain_text("résumé des nouvelles actualités")
    expect(page.get_by_role("button", name="Me désabonner du résumé")).to_be_visible()
    axe_check(page)
