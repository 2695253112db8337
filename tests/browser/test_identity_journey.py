"""Second factor and ProConnect in Chromium (SPEC §3), real CSRF, real SMTP, the
served app's clock frozen and moved by the test: a gestionnaire enrols on its
first login by reading the secret shown, logs out and in with a code, uses a
recovery code, is asked again before an export after 15 minutes; an
admin_caisse resets a gestionnaire's second factor; a technicien signs in
through a local OpenID Connect provider."""
import re

import pytest

from tests.conftest import PASSWORD
from tests.oidc_provider import Provider
from tests.plugins.browser import axe_check, current_code, enrol_second_factor, log_in, require_playwright

pytestmark = pytest.mark.browser
expect = require_playwright().expect


def log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click(force=True)
    page.wait_for_url("**/connexion")


def password_step(page, login):
    page.goto("/connexion")
    page.get_by_role("textbox", name="Identifiant").fill(login)
    page.get_by_role("textbox", name="Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code")


def test_gestionnaire_enrols_logs_in_with_codes_and_confirms_before_an_export(page, live_server, screenshot):
    clock = live_server.freeze()
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        g = make.gestionnaire(p, second_factor=False, last_login_at=None, cgu_version=None)
        make.technicien(p, nom="Aubert", prenom="Lou", manager_id=g.id)
        login = g.login

    # First login: CGU, then the enrolment page (no way around it, no "later").
    log_in(page, login)
    page.get_by_text("J'ai lu et j'accepte").click()
    page.get_by_role("button", name="Accepter et continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer la double authentification")
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    expect(page.get_by_role("link", name="Plus tard")).to_have_count(0)
    page.goto("/gestion/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer la double authentification")
    axe_check(page)
    screenshot(page, "second-factor-enrol")
    # A wrong code first: the message next to the field, the QR code still there.
    page.get_by_label("Code affiché par l'application").fill("12345")
    page.get_by_role("button", name="Activer la double authentification").click()
    expect(page.locator("#code-error")).to_contain_text("Code incorrect")
    secret, codes = enrol_second_factor(page)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret) and len(codes) == 10
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")

    # "Mon compte" lists the factor.
    page.get_by_role("link", name="Mon compte").first.click()
    expect(page.get_by_test_id("second-factor")).to_contain_text("Activée")
    expect(page.get_by_test_id("recovery-left")).to_have_text("10")
    axe_check(page)
    log_out(page)

    # Out and in again, a little later, with the code the phone shows.
    clock.advance(seconds=60)
    password_step(page, login)
    axe_check(page)
    page.get_by_label("Code de vérification").fill(current_code(secret))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")
    log_out(page)

    # The phone left at home: a recovery code, once.
    clock.advance(seconds=60)
    password_step(page, login)
    page.get_by_label("Code de vérification").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")
    page.get_by_role("link", name="Mon compte").first.click()
    expect(page.get_by_test_id("recovery-left")).to_have_text("9")
    log_out(page)
    password_step(page, login)
    page.get_by_label("Code de vérification").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.locator("#code-error")).to_contain_text("Code incorrect ou déjà utilisé")
    page.get_by_label("Code de vérification").fill(codes[1])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")

    # 16 minutes later, an export asks again, then the file comes.
    clock.advance(minutes=16)
    page.get_by_role("link", name="Habilitations").first.click()
    page.get_by_role("link", name="Exporter en CSV").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmez votre identité")
    axe_check(page)
    screenshot(page, "second-factor-reauth")
    page.get_by_label("Code de vérification").fill(current_code(secret))
    with page.expect_download() as info:
        page.get_by_role("button", name="Confirmer et continuer").click()
    assert info.value.suggested_filename.endswith(".csv")


def test_reauth_keeps_what_was_typed(page, live_server):
    clock = live_server.freeze()
    with live_server.seed() as make:
        make.cgu()
        p = make.partenaire(make.caisse(), name="CCAS de Valmont-sur-Essai")
        g = make.gestionnaire(p)
        login, domain = g.login, p.domain_list[0]
    log_in(page, login)
    clock.advance(minutes=20)
    form = page.locator("#technicien-form")
    form.locator("label[for=civilite-0]").click()
    form.locator("#prenom").fill("Sacha")
    form.locator("#nom").fill("Bernier")
    form.locator("#email").fill(f"sacha.bernier@{domain}")
    form.get_by_role("button", name="Créer le compte technicien").click()  # an htmx form
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmez votre identité")
    page.get_by_label("Code de vérification").fill(current_code(login=login))
    page.get_by_role("button", name="Confirmer et continuer").click()
    expect(page.locator("#flash")).to_contain_text("Le compte de Sacha Bernier est créé")
    expect(page.locator("main")).to_contain_text("sacha.bernier@")


def test_admin_caisse_resets_a_gestionnaire_second_factor(page, live_server, smtp_server):
    live_server.freeze()
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        p = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        g = make.gestionnaire(p, nom="Lefort", prenom="Inès")
        admin = make.admin_caisse(caisse)
        ids = dict(admin=admin.login, g=g.login, g_id=g.id, p_id=p.id, email=g.email)

    log_in(page, ids["admin"])
    page.goto(f"/caisse/partenaires/{ids['p_id']}/gestionnaires/{ids['g_id']}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Réinitialiser la double authentification")).click()
    expect(page.locator("#flash")).to_contain_text("est réinitialisée")
    mail = smtp_server.wait_for(ids["email"])
    assert "réinitialisée" in mail.subject and ids["g"] in mail.text
    log_out(page)

    # The gestionnaire: password only, then a new enrolment at once.
    log_in(page, ids["g"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer la double authentification")
    enrol_second_factor(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")


def test_technicien_signs_in_with_proconnect(page, live_server, screenshot):
    provider = Provider().start()
    try:
        live_server.app.config.update(provider.config(live_server.url + "/connexion/proconnect/retour"))
        with live_server.seed() as make:
            make.cgu()
            caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
            p = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
            tech = make.technicien(p, prenom="Camille", nom="Fictif")
            provider.user = {"sub": "pc-tech-1", "email": tech.email, "acr": "eidas1"}
        page.goto("/connexion")
        axe_check(page)
        screenshot(page, "login-proconnect")
        page.get_by_role("button", name="S’identifier avec ProConnect").click()
        expect(page.get_by_test_id("caisses")).to_contain_text("CPAM de Valmont-sur-Essai")
        expect(page.get_by_test_id("whoami")).to_contain_text("Camille Fictif")
        # Logging out goes through the provider's end_session_endpoint and back.
        page.get_by_role("button", name="Se déconnecter").first.click(force=True)
        page.wait_for_url("**/connexion*")
        assert provider.end_session_calls and provider.end_session_calls[-1]["id_token_hint"]
        # Someone ProConnect knows but the portal does not: a clear refusal.
        provider.user = {"sub": "pc-inconnu", "email": "inconnu@exemple.test"}
        page.get_by_role("button", name="S’identifier avec ProConnect").click()
        expect(page.locator("#form-error")).to_contain_text("ProConnect ne crée pas de compte")
    finally:
        provider.stop()
