"""The authentication journeys in a real browser (SPEC §3): activation by e-mail
with the real CSRF and a real SMTP server, first login and CGU, login failures."""
import re

import pytest

from ep_web.domain import accounts
from ep_web.domain.auth import BAD_CREDENTIALS
from ep_web.models import AccountStatus
from ep_web.transaction import commit
from tests.conftest import PASSWORD
from tests.plugins.browser import axe_check, require_playwright

pytestmark = pytest.mark.browser
expect = require_playwright().expect

NEW_PASSWORD = "Quartz-Velours-Orage-73!"
LOCKED = re.compile(r"^Trop de tentatives infructueuses\. Réessayez dans \d+ minutes")


def submit(page, button_name: str, status: int):
    """Click a submit button and check the HTTP status of the POST it sends."""
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.get_by_role("button", name=button_name).click()
    assert info.value.status == status, f"{info.value.url} answered {info.value.status}, expected {status}"
    page.wait_for_load_state()


def log_in(page, login: str, password: str, status: int):
    page.get_by_role("textbox", name="Identifiant").fill(login)
    page.get_by_role("textbox", name="Mot de passe", exact=True).fill(password)
    submit(page, "Se connecter", status)


def test_login_page_is_accessible(page, screenshot):
    page.goto("/connexion")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion à l'Espace Partenaires")
    axe_check(page)
    screenshot(page, "login")


def test_activation_journey(page, live_server, smtp_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        partenaire = make.partenaire(caisse)
        make.cgu()
        gestionnaire = make.gestionnaire(partenaire)
        technicien = accounts.create_technicien(gestionnaire, {
            "civilite": "Mme", "nom": "Fictif", "prenom": "Camille", "fonction": "Conseillère sociale",
            "telephone": "01 23 45 67 89", "email": f"camille.fictif@{partenaire.domain_list[0]}",
        })
        commit()
        caisse_name, address, login = caisse.name, technicien.email, technicien.login
        assert technicien.status == AccountStatus.PENDING and technicien.password_hash is None

    # The e-mail: login identifier and a single-use link, no password.
    mail = smtp_server.wait_for(address)
    assert mail.subject == "Votre compte Espace Partenaires"
    found = re.search(r"Votre identifiant : (\S+)", mail.text)
    assert found and found.group(1) == login, mail.text
    mail_login = found.group(1)
    for body in (mail.text, mail.html):
        assert not re.search(r"mot de passe\s*(provisoire|temporaire)?\s*:", body, re.IGNORECASE), body
    link = mail.link(r"(http://\S+/activation/\S+)")
    assert link.startswith(live_server.url + "/activation/")

    # The link: a weak password is refused next to its field, in French.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer mon compte")
    expect(page.get_by_test_id("login-id")).to_have_text(login)
    page.get_by_label("Nouveau mot de passe").fill("Soleil2026")
    page.get_by_label("Confirmez le mot de passe").fill("Soleil2026")
    submit(page, "Activer mon compte", 422)
    field = page.get_by_label("Nouveau mot de passe")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "password-error")
    expect(page.locator("#group-password #password-error")).to_contain_text("Mot de passe trop faible")
    axe_check(page)
    screenshot(page, "activation-error")

    # A good password activates the account and leads to the login page.
    page.get_by_label("Nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_label("Confirmez le mot de passe").fill(NEW_PASSWORD)
    submit(page, "Activer mon compte", 303)
    expect(page).to_have_url(re.compile(r"/connexion$"))
    expect(page.locator("#flash")).to_contain_text("Votre compte est activé")

    # The link is single-use.
    assert page.goto(link).status == 410
    expect(page.get_by_text("Ce lien a déjà été utilisé")).to_be_visible()
    page.goto("/connexion")

    # First login with the identifier of the e-mail: the CGU come first.
    log_in(page, mail_login, NEW_PASSWORD, 302)
    expect(page).to_have_url(re.compile(r"/cgu\b"))
    expect(page.get_by_test_id("cgu-body")).to_contain_text("CGU version 1")
    axe_check(page)
    screenshot(page, "cgu")
    accept = page.get_by_label("J'ai lu et j'accepte les conditions générales d'utilisation")
    page.get_by_text("J'ai lu et j'accepte les conditions générales d'utilisation").click()  # the DSFR box is its label
    expect(accept).to_be_checked()
    submit(page, "Accepter et continuer", 303)

    # The technicien home lists the caisse.
    expect(page).to_have_url(re.compile(r"/(\?)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Bonjour Camille")
    expect(page.get_by_test_id("caisses")).to_contain_text(caisse_name)
    expect(page.locator(".fr-header__tools").get_by_test_id("whoami")).to_contain_text("Camille Fictif")
    axe_check(page)
    screenshot(page, "technicien-home")

    # On a phone the header tools live in the DSFR "Menu" modal: logging out works from there.
    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_role("button", name="Menu").click()
    menu = page.locator("#menu-modal")
    expect(menu.get_by_text("Camille Fictif · Technicien")).to_be_visible()
    screenshot(page, "technicien-menu-mobile")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        menu.get_by_role("button", name="Se déconnecter").click()
    assert info.value.status == 303
    expect(page).to_have_url(re.compile(r"/connexion$"))
    expect(page.locator("#flash")).to_contain_text("Vous êtes déconnecté.")
    assert not [m.subject for m in smtp_server.messages if NEW_PASSWORD in m.text + m.html]


def test_login_failures_do_not_tell_whether_the_login_exists_and_lock(page, live_server):
    with live_server.seed() as make:
        login = make.technicien(make.partenaire(make.caisse())).login

    def error_after(login_tried: str, password: str) -> str:
        log_in(page, login_tried, password, 422)
        expect(page.get_by_role("alert")).to_be_visible()
        expect(page.get_by_role("textbox", name="Mot de passe", exact=True)).to_have_value("")
        return page.get_by_role("alert").inner_text().strip()

    page.goto("/connexion")
    unknown = error_after("TZZZZZZZ9", "Mauvais-Motdepasse-1!")
    wrong = error_after(login, "Mauvais-Motdepasse-1!")
    assert unknown == wrong == BAD_CREDENTIALS

    # Five failures for an identifier lock it, whether or not it exists.
    for _ in range(3):
        assert error_after(login, "Mauvais-Motdepasse-1!") == BAD_CREDENTIALS
    locked = error_after(login, "Mauvais-Motdepasse-1!")
    assert LOCKED.match(locked), locked
    for _ in range(3):
        assert error_after("TZZZZZZZ9", "Mauvais-Motdepasse-1!") == BAD_CREDENTIALS
    assert error_after("TZZZZZZZ9", "Mauvais-Motdepasse-1!") == locked

    # Locked: even the right password is refused, with the same message.
    assert error_after(login, PASSWORD) == locked
    expect(page).to_have_url(re.compile(r"/connexion$"))
