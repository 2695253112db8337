"""« Mes sessions » in a real browser (SPEC §3): a user signed in on two
computers closes the other one from « Mon compte »; the other computer is sent
to the login page at its next click. The page passes axe-core."""
import re

import pytest

from tests.plugins.browser import axe_check, log_in, require_playwright

pytestmark = pytest.mark.browser
expect = require_playwright().expect


def test_close_the_other_session_from_mon_compte(page, _browser, live_server, screenshot):
    with live_server.seed() as make:
        make.cgu()
        gestionnaire = make.gestionnaire(make.partenaire(make.caisse()))
        login = gestionnaire.login

    # The other computer: a second browser context, signed in first.
    other = _browser.new_context(base_url=live_server.url, locale="fr-FR", reduced_motion="reduce",
                                 user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
                                            "Firefox/128.0")
    try:
        elsewhere = other.new_page()
        log_in(elsewhere, login)
        expect(elsewhere.get_by_role("link", name="Mon compte")).to_be_visible()

        log_in(page, login)
        page.get_by_role("link", name="Mon compte").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
        page.get_by_role("link", name="Mes sessions").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Mes sessions")
        rows = page.locator("#sessions-table tbody tr")
        expect(rows).to_have_count(2)
        firefox = rows.filter(has_text="Firefox sur Windows")
        expect(firefox).to_have_count(1)
        current = rows.filter(has=page.locator(".fr-badge", has_text="Cette session"))
        expect(current).to_have_count(1)
        expect(current.get_by_role("button")).to_have_count(0)  # the one in use ends with « Se déconnecter »
        axe_check(page)
        screenshot(page, "mes-sessions")

        with page.expect_response(lambda r: r.request.method == "POST") as info:
            firefox.get_by_role("button", name="Fermer cette session").click()
        assert info.value.status == 303
        expect(page.locator("#flash")).to_contain_text("La session est fermée")
        expect(page.locator("#sessions-table tbody tr")).to_have_count(1)

        elsewhere.get_by_role("link", name="Mon compte").click()
        expect(elsewhere).to_have_url(re.compile(re.escape(live_server.url) + r"/connexion\?next="))
        expect(elsewhere.locator("#flash")).to_contain_text("Votre session a pris fin")
    finally:
        other.close()
