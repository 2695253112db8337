"""The whole story of issue 2 in Chromium, real CSRF, real SMTP:
an admin_caisse creates a partner of 12 members, its convention and a
gestionnaire → the activation e-mail arrives → the link sets a password → CGU
→ the gestionnaire creates 15 techniciens, the 16th is refused → inactivates
one and reactivates it → a technicien activates its account and logs in."""
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import alpha
from tests.plugins.browser import axe_check, enrol_second_factor, log_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "Glacier-Orage-Piano-47"
DOMAIN = "ccas-essai.example"


def log_out(page):
    page.get_by_role("button", name="Se déconnecter").first.click(force=True)
    page.wait_for_url("**/connexion")


def activate_from_email(page, smtp_server, email):
    """Open the activation link of the e-mail, choose the password, return the login."""
    message = smtp_server.wait_for(email)
    assert NEW_PASSWORD not in message.text and PASSWORD not in message.text
    login = re.search(r"Votre identifiant : (\w+)", message.text).group(1)
    link = smtp_server.link(email, r"https?://\S+/activation/\S+")
    page.goto(link)
    page.locator("#password").fill(NEW_PASSWORD)
    page.locator("#confirm").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Activer mon compte").click()
    expect(page.locator("#flash")).to_contain_text("Votre compte est activé")
    return login


def accept_cgu(page):
    expect(page.get_by_role("heading", level=1)).to_have_text("Conditions générales d'utilisation")
    page.get_by_text("J'ai lu et j'accepte").click()
    page.get_by_role("button", name="Accepter et continuer").click()
    page.wait_for_load_state()


def test_the_whole_story(page, live_server, smtp_server, screenshot):
    with live_server.seed() as make:
        make.cgu()
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai")
        admin = make.admin_caisse(caisse)
        admin_login, caisse_name = admin.login, caisse.name

    # 1. The référent creates the partner and its convention in one form.
    log_in(page, admin_login, PASSWORD)
    page.get_by_role("link", name="Partenaires", exact=True).first.click()
    page.get_by_role("link", name="Nouveau partenaire").click()
    page.locator("#name").fill("CCAS d'Essai-les-Bains")
    page.locator("#type").select_option("ccas")
    page.locator("#members").fill("12")
    page.locator("#email_domains").fill(DOMAIN)
    page.get_by_label("Signaler une situation de difficultés d'accès aux droits et aux soins").check()
    page.get_by_label("Demander un document").check()
    page.get_by_role("button", name="Créer le partenaire et sa convention").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("CCAS d'Essai-les-Bains")
    axe_check(page)

    # 2. …and its gestionnaire.
    page.locator("label[for=g-civilite-0]").click()  # DSFR radios: the label takes the click
    page.locator("#g-nom").fill("Lefort")
    page.locator("#g-prenom").fill("Inès")
    page.locator("#g-fonction").fill("Responsable de l'action sociale")
    page.locator("#g-telephone").fill("04 50 00 00 12")
    page.locator("#g-email").fill(f"ines.lefort@{DOMAIN}")
    page.get_by_role("button", name="Créer le gestionnaire").click()
    expect(page.locator("main")).to_contain_text("Lefort")
    log_out(page)

    # 3. The activation e-mail arrives over SMTP; the link sets the password; CGU.
    g_login = activate_from_email(page, smtp_server, f"ines.lefort@{DOMAIN}")
    log_in(page, g_login, NEW_PASSWORD)
    accept_cgu(page)
    # A gestionnaire's first login: the second factor is set up before anything else.
    expect(page.get_by_role("heading", level=1)).to_have_text("Configurer la double authentification")
    enrol_second_factor(page)
    page.get_by_role("link", name="Techniciens", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Les comptes de CCAS")
    counter = page.locator("#quota-counter")
    expect(counter).to_contain_text("0 / 15")

    # 4. Fifteen techniciens, then the sixteenth is refused with a clear message.
    form = page.locator("#technicien-form")
    for i in range(1, 17):
        form.locator("label[for=civilite-0]").click()
        form.locator("#prenom").fill(f"Camille{alpha(i)}")
        form.locator("#nom").fill(f"Essai{alpha(i)}")
        form.locator("#email").fill(f"camille{i}@{DOMAIN}")
        with page.expect_response(lambda r: r.request.method == "POST") as info:
            form.get_by_role("button", name="Créer le compte technicien").click()
        if i <= 15:
            assert info.value.status == 200, i
            expect(counter).to_contain_text(f"{i} / 15")
    assert info.value.status == 422
    expect(form).to_contain_text("Quota atteint : 15 / 15 techniciens")
    expect(form.locator("#prenom")).to_have_value("CamilleBG")  # nothing typed is lost
    axe_check(page)
    screenshot(page, "story-quota")

    # 5. Inactivate one, the counter goes down; reactivate it, back to 15.
    row = page.locator("tr", has_text="CamilleD EssaiD")
    row.get_by_text("Inactiver", exact=False).first.click()
    row.get_by_role("button", name="Inactiver le compte").click()
    expect(row.locator(".fr-badge")).to_contain_text("Inactif")
    expect(counter).to_contain_text("14 / 15")
    row.get_by_role("button", name=re.compile("^Réactiver")).click()
    expect(row.locator(".fr-badge")).not_to_contain_text("Inactif")
    expect(counter).to_contain_text("15 / 15")
    log_out(page)

    # 6. A technicien activates its account and logs in.
    t_login = activate_from_email(page, smtp_server, f"camille1@{DOMAIN}")
    log_in(page, t_login, NEW_PASSWORD)
    accept_cgu(page)
    expect(page.locator("[data-testid=caisses]")).to_contain_text(caisse_name)
    expect(page.locator("[data-testid=caisses]")).to_contain_text("Demander un document")
