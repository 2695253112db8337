"""Maintenance in a real browser, on the live server with a frozen clock moved
by the test: the banner before, the 503 page during (no serious axe-core
violation, each caisse's channel listed), the portal back after."""
from datetime import timedelta

import pytest

from ep_web.clock import FrozenClock, to_paris
from ep_web.clock import now as real_now
from ep_web.domain import maintenance
from ep_web.transaction import commit
from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in

pytestmark = pytest.mark.browser
expect = require_playwright().expect




def test_maintenance_banner_page_and_return(page, live_server, screenshot):
    clock = FrozenClock(real_now().replace(second=0, microsecond=0))
    live_server.app.extensions["ep_clock"] = clock
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", autre_canal="Téléphone 04 00 00 00 01")
        make.caisse(name="CPAM de Bourg-Fictif", autre_canal="partenaires@bourg-fictif.example")
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        tech = make.technicien(partenaire)
        national = make.admin_national()
        window = maintenance.schedule(national, clock.now() + timedelta(minutes=10),
                                      clock.now() + timedelta(minutes=25), "Mise à jour du portail.")
        commit()
        ids = dict(tech=tech.login, national=national.login, window=window.id,
                   start=to_paris(window.starts_at).strftime("%d/%m/%Y à %H:%M"))

    # Before: the banner, with the dates, on every page.
    _log_in(page, ids["tech"])
    banner = page.get_by_test_id("maintenance-banner")
    expect(banner).to_contain_text(f"Maintenance programmée du {ids['start']}")
    expect(banner).to_contain_text("Mise à jour du portail.")
    axe_check(page)
    screenshot(page, "maintenance-banner")

    # During: every page answers 503 with the channels.
    clock.advance(minutes=15)
    response = page.goto("/")
    assert response.status == 503
    assert response.headers["retry-after"] == str(10 * 60)
    expect(page.get_by_role("heading", level=1)).to_have_text("Le portail est en maintenance")
    table = page.get_by_test_id("autres-canaux")
    expect(table).to_contain_text("CPAM de Valmont-sur-Essai")
    expect(table).to_contain_text("Téléphone 04 00 00 00 01")
    expect(table).to_contain_text("partenaires@bourg-fictif.example")
    axe_check(page)
    screenshot(page, "maintenance-page")

    # admin_national logs in and sees the portal, with the running window.
    other = page.context.browser.new_context(base_url=live_server.url, locale="fr-FR")
    try:
        admin_page = other.new_page()
        _log_in(admin_page, ids["national"])
        admin_page.goto("/national/maintenance")
        expect(admin_page.get_by_role("heading", level=1)).to_have_text("Maintenance du portail")
        expect(admin_page.locator(f"#maintenance-{ids['window']}")).to_contain_text("En cours")
        axe_check(admin_page)
    finally:
        other.close()

    # After: back to normal, without a restart.
    clock.advance(minutes=11)
    response = page.goto("/")
    assert response.status == 200
    expect(page.get_by_test_id("maintenance-banner")).to_have_count(0)
