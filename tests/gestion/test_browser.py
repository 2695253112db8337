"""The gestionnaire's htmx interactions in a real browser (Chromium through
Playwright, real CSRF): row swaps, the out-of-band quota counter and
habilitation row, 422 swaps, and the same page staying in place."""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from ep_web.domain.reviews import open_review
from ep_web.models import AccountStatus
from ep_web.transaction import commit
from tests.conftest import PASSWORD
from tests.plugins.browser import axe_check
from tests.plugins.browser import log_in as shared_log_in

pytestmark = pytest.mark.browser


def log_in(page, login):
    shared_log_in(page, login, PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/gestion/")


def post_and_check(page, action, status):
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        action()
    assert info.value.status == status, f"{info.value.url} answered {info.value.status}, expected {status}"


def test_technicien_rows_swap_in_place(page, live_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, members=5, name="CCAS de Valmont-sur-Essai")
        make.cgu()
        g = make.gestionnaire(p)
        t1 = make.technicien(p, nom="Aubert", prenom="Lou", manager_id=g.id)
        make.technicien(p, nom="Bernier", prenom="Sacha")
        old = make.technicien(p, nom="Caron", prenom="Noa", status=AccountStatus.INACTIVE)
        domain = p.domain_list[0]
        g_login, t1_id, old_id = g.login, t1.id, old.id

    log_in(page, g_login)
    counter = page.locator("#quota-counter")
    expect(counter).to_contain_text("2 / 5 techniciens")
    page.evaluate("() => { window.epNoReload = true; }")  # lost if the page reloads

    row = page.locator(f"#technicien-{t1_id}")
    row.get_by_text("Inactiver", exact=False).first.click()
    row.get_by_label("Motif (facultatif)").fill("Fin de mission")
    post_and_check(page, lambda: row.get_by_role("button", name="Inactiver le compte").click(), 200)
    expect(row.locator(".fr-badge")).to_have_text("Inactif")
    expect(row).to_contain_text("Fin de mission")
    expect(counter).to_contain_text("1 / 5 techniciens")
    expect(page.locator("#flash")).to_contain_text("Le compte de Lou Aubert est inactivé")

    post_and_check(page, lambda: row.get_by_role("button", name="Réactiver le compte de Lou Aubert").click(), 200)
    expect(row.locator(".fr-badge")).to_have_text("Actif")
    expect(counter).to_contain_text("2 / 5 techniciens")

    # Creation through htmx: the form comes back empty, the table and counter follow.
    page.locator("label[for=civilite-0]").click()  # DSFR draws the radio over its label
    page.locator("#prenom").fill("Maé")
    page.locator("#nom").fill("Durand")
    page.locator("#email").fill(f"mae.durand@{domain}")
    post_and_check(page, lambda: page.get_by_role("button", name="Créer le compte technicien").click(), 200)
    expect(page.locator("#technicien-form")).to_contain_text("Le compte de Maé Durand est créé")
    expect(page.locator("#prenom")).to_have_value("")
    expect(page.locator("#techniciens-table")).to_contain_text(f"mae.durand@{domain}")
    expect(counter).to_contain_text("3 / 5 techniciens")

    # A refusal (422) is swapped too: the webmail message next to the field, values kept.
    page.locator("label[for=civilite-0]").click()  # DSFR draws the radio over its label
    page.locator("#prenom").fill("Iris")
    page.locator("#nom").fill("Essai")
    page.locator("#email").fill("iris.essai@gmail.com")
    post_and_check(page, lambda: page.get_by_role("button", name="Créer le compte technicien").click(), 422)
    expect(page.locator("#email-error")).to_contain_text("messagerie personnelle")
    expect(page.locator("#prenom")).to_have_value("Iris")
    expect(page.locator("#email")).to_be_focused()

    with live_server.seed() as make:
        from ep_web.extensions import db
        from ep_web.models import Partenaire

        p = db.session.get(Partenaire, p.id)
        make.technicien(p)
        make.technicien(p)  # 5 / 5

    # Reactivation over quota: 422, the row carries the message.
    old_row = page.locator(f"#technicien-{old_id}")
    post_and_check(page, lambda: old_row.get_by_role("button", name="Réactiver le compte de Noa Caron").click(), 422)
    expect(old_row.get_by_role("alert")).to_contain_text("Quota atteint : 5 / 5 techniciens")
    expect(old_row.locator(".fr-badge")).to_have_text("Inactif")
    expect(counter).to_contain_text("5 / 5 techniciens")

    # Misuse report: a confirmation, then the row turns inactive.
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_text("Signaler un usage frauduleux").click()
    row.get_by_label("Usage frauduleux constaté").fill("Identifiants prêtés à un tiers")
    post_and_check(page, lambda: row.get_by_role("button", name="Signaler et inactiver").click(), 200)
    expect(row.locator(".fr-badge")).to_have_text("Inactif")
    expect(counter).to_contain_text("4 / 5 techniciens")

    assert page.evaluate("() => window.epNoReload === true"), "the page reloaded: htmx did not swap"
    axe_check(page)
    screenshot(page, "gestion-dashboard")


def test_review_answer_updates_the_habilitation_table_out_of_band(page, live_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, members=12, name="CCAS de Valmont-sur-Essai")
        make.cgu()
        admin = make.admin_caisse(caisse)
        g = make.gestionnaire(p)
        make.gestionnaire(p)
        t = make.technicien(p, nom="Aubert", prenom="Lou")
        review = open_review(admin, p, make.today() + timedelta(days=20))
        commit()
        item_id = next(i.id for i in review.items if i.account_id == t.id)
        g_login, t_id = g.login, t.id

    log_in(page, g_login)
    page.goto("/gestion/habilitations")
    page.evaluate("() => { window.epNoReload = true; }")
    expect(page.locator("#review-status")).to_contain_text("3 comptes à revoir")
    review_row = page.locator(f"#revue-{item_id}")
    review_row.get_by_text("Inactiver", exact=False).first.click()
    post_and_check(page, lambda: review_row.get_by_role("button", name="Inactiver le compte").click(), 200)
    expect(review_row).to_contain_text("Inactivé le")
    expect(page.locator(f"#habilitation-{t_id} .fr-badge")).to_have_text("Inactif")
    expect(page.locator("#review-status")).to_contain_text("2 comptes à revoir")
    assert page.evaluate("() => window.epNoReload === true")
    axe_check(page)
    screenshot(page, "gestion-habilitations")


def test_requests_page_prefills_the_modification_and_files_it(page, live_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, members=12, name="CCAS de Valmont-sur-Essai")
        make.cgu()
        g = make.gestionnaire(p)
        g2 = make.gestionnaire(p, prenom="Alix", nom="Fontaine", fonction="Cheffe de service")
        g_login, g2_id, g2_email = g.login, g2.id, g2.email

    log_in(page, g_login)
    page.goto("/gestion/demandes")
    axe_check(page)
    page.evaluate("() => { window.epNoReload = true; }")
    with page.expect_response(lambda r: "/gestion/demandes/modification" in r.url and r.request.method == "GET"):
        page.get_by_label("Gestionnaire à modifier").select_option(str(g2_id))
    expect(page.locator("#modification-email")).to_have_value(g2_email)
    expect(page.locator("#modification-fonction")).to_have_value("Cheffe de service")
    assert page.evaluate("() => window.epNoReload === true"), "the chooser reloaded the page"
    page.locator("#modification-fonction").fill("Directrice adjointe")
    post_and_check(page, lambda: page.get_by_role("button", name="Envoyer la demande de modification").click(), 303)
    page.wait_for_url("**/gestion/demandes")
    expect(page.locator("#flash")).to_contain_text("Votre demande est transmise à la caisse")
    expect(page.locator("#requests-table")).to_contain_text("Modification d'un gestionnaire")
    expect(page.locator("#requests-table")).to_contain_text("Alix Fontaine")
    axe_check(page)
    screenshot(page, "gestion-demandes")


@pytest.mark.parametrize("path", ["/gestion/", "/gestion/habilitations", "/gestion/demandes"])
def test_gestion_pages_fit_a_phone(page, live_server, path):
    """At 390 px the page itself does not scroll sideways: wide tables scroll
    inside their DSFR wrapper."""
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, members=5, name="CCAS de Valmont-sur-Essai")
        make.cgu()
        g = make.gestionnaire(p)
        make.technicien(p, nom="Aubert-Delacroix-Montfort", prenom="Marie-Antoinette", manager_id=g.id)
        make.technicien(p, nom="Bernier", prenom="Sacha", status=AccountStatus.PENDING)
        make.technicien(p, nom="Caron", prenom="Noa", status=AccountStatus.INACTIVE)
        login = g.login
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, login)
    page.goto(path)
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide at 390 px"
