"""Confirmation without JavaScript, in Chromium with JavaScript disabled: the
« Supprimer » button of a draft leads to the server's confirmation page
(ep_web/confirm.py) instead of deleting at once; « Annuler » keeps the draft,
confirming deletes it. With JavaScript the browser's dialog asks instead
(the journeys accept it). axe-core needs JavaScript: the same page is checked
in the JS page, reached by a button stripped of its dialog."""
import pytest
from playwright.sync_api import expect

from ep_web.domain import drafts
from ep_web.transaction import commit
from tests.plugins.browser import TIMEOUT_MS, axe_check, log_in

pytestmark = pytest.mark.browser


def test_a_draft_is_deleted_only_once_confirmed(_browser, live_server, page):
    with live_server.seed() as make:
        w = make.world()
        login = w.technicien.login
        for nom in ("Brouillonne", "Secondaire"):
            drafts.save(w.technicien, "contact", {"nom": nom, "prenom": "Alix", "message": "À finir."})
        commit()
    context = _browser.new_context(base_url=live_server.url, locale="fr-FR", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        nojs = context.new_page()
        log_in(nojs, login)
        nojs.goto("/demandes/brouillons")
        row = nojs.get_by_test_id("drafts").locator("tbody tr").filter(has_text="Alix Brouillonne").first
        row.get_by_role("button", name="Supprimer").click()
        nojs.wait_for_load_state()
        expect(nojs.get_by_role("heading", level=1)).to_have_text("Supprimer le brouillon")
        expect(nojs.locator("main")).to_contain_text("Alix Brouillonne")
        nojs.get_by_role("link", name="Annuler").click()
        nojs.wait_for_load_state()
        expect(nojs.get_by_test_id("drafts")).to_contain_text("Alix Brouillonne")

        row.get_by_role("button", name="Supprimer").click()
        nojs.get_by_role("button", name="Supprimer le brouillon").click()
        nojs.wait_for_load_state()
        expect(nojs.locator("#flash")).to_contain_text("Le brouillon est supprimé.")
        expect(nojs.locator("main")).not_to_contain_text("Alix Brouillonne")
        expect(nojs.locator("main")).to_contain_text("Alix Secondaire")
    finally:
        context.close()

    log_in(page, login)
    page.goto("/demandes/brouillons")
    button = page.get_by_test_id("drafts").get_by_role("button", name="Supprimer").first
    button.evaluate("b => b.removeAttribute('data-confirm')")
    button.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Supprimer le brouillon")
    axe_check(page)
