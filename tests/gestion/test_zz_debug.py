import pytest
from ep_web.models import AccountStatus
from tests.browser.conftest import _browser, live_server, smtp_server  # noqa
from tests.gestion.test_browser import log_in
pytestmark = pytest.mark.browser

def test_dbg(_browser, live_server):
    with live_server.seed() as make:
        caisse = make.caisse(); p = make.partenaire(caisse, members=5); make.cgu()
        g = make.gestionnaire(p); t1 = make.technicien(p)
        g_login, t1_id = g.login, t1.id
    ctx = _browser.new_context(base_url=live_server.url)
    page = ctx.new_page()
    msgs = []
    page.on("console", lambda m: msgs.append(m.text[:120]))
    page.goto("/connexion"); print("login page", msgs); msgs.clear()
    log_in(page, g_login); page.wait_for_timeout(500); print("dashboard", msgs); msgs.clear()
    row = page.locator(f"#technicien-{t1_id}")
    row.get_by_text("Inactiver", exact=False).first.click(); page.wait_for_timeout(300); print("details", msgs); msgs.clear()
    row.get_by_role("button", name="Inactiver le compte").click(); page.wait_for_timeout(800); print("swap", msgs); msgs.clear()
    page.goto("/gestion/habilitations"); page.wait_for_timeout(500); print("habil", msgs); msgs.clear()
    page.goto("/gestion/demandes"); page.wait_for_timeout(500); print("demandes", msgs); msgs.clear()
    ctx.close()
