"""The agent's journey in Chromium (real CSRF, real SMTP): a new signalement is
at the top of the queue with its 48-hour clock → the agent opens it, takes it,
a NIR in the reply is refused in place with the text kept, the reply is sent →
the technicien's e-mail arrives with no personal data → the reply is in the
thread and the timeline. axe-core on the queue and the demande page."""
import re

import pytest

from ep_web.domain import demandes as dm
from ep_web.transaction import commit
from tests.plugins.browser import axe_check, require_playwright
from tests.plugins.browser import log_in as _log_in
from tests.traitement.conftest import BIRTH_SPELLINGS, DEPARTEMENT, DETAILS, PERSON

pytestmark = pytest.mark.browser
expect = require_playwright().expect
REPLY = "Nous avons joint la personne ce jour : un rendez-vous lui est proposé à l'accueil."




def _wait_for_mail(smtp_server, to: str, subject_part: str):
    """The first message to ``to`` whose subject holds ``subject_part`` (waits on arrivals, no sleep)."""
    handler = smtp_server.handler

    def found():
        return next((m for m in handler.messages if to.lower() in m.to and subject_part in m.subject), None)

    with handler.arrived:
        mail = handler.arrived.wait_for(found, timeout=10)
    assert mail is not None, [(m.to, m.subject) for m in smtp_server.messages]
    return mail


def test_agent_takes_and_answers_a_signalement(page, live_server, smtp_server, screenshot):
    with live_server.seed() as make:
        caisse = make.caisse(name="CPAM de Valmont-sur-Essai", departements=DEPARTEMENT)
        partenaire = make.partenaire(caisse, name="CCAS de Valmont-sur-Essai")
        tech = make.technicien(partenaire)
        agent = make.agent(caisse)
        older = dm.create_demande(tech, dm.DemandeInput(
            service="contact", caisse_id=caisse.id, departement=DEPARTEMENT, details=dict(DETAILS["contact"]),
            civilite="M.", nom="Ancien", prenom="Basile", date_naissance=PERSON["date_naissance"]))
        signalement = dm.create_demande(tech, dm.DemandeInput(
            service="signalement", caisse_id=caisse.id, departement=DEPARTEMENT,
            details=dict(DETAILS["signalement"]), consent=True, **PERSON))
        commit()
        ids = dict(agent=agent.login, tech_email=tech.email, ref=signalement.reference, old_ref=older.reference,
                   demande_id=signalement.id)

    # The agent's home is « À traiter » (SPEC §6); the queue: the signalement is on top, with its clock.
    _log_in(page, ids["agent"])
    expect(page.get_by_test_id("count-non-prises")).to_have_text("2")
    page.get_by_role("link", name="File des demandes").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("File des demandes")
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(ids["ref"])
    expect(rows.first.get_by_test_id("sla")).to_have_text(re.compile(r"Reste 4[78] h"))
    expect(rows.nth(1)).to_contain_text(ids["old_ref"])
    axe_check(page)
    screenshot(page, "traitement-file")

    # The name search updates the table in place and the address.
    page.get_by_role("searchbox", name=re.compile("Nom de la personne")).fill("ancien")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ids["old_ref"])
    expect(page).to_have_url(re.compile(r"q=ancien"))
    page.get_by_role("searchbox", name=re.compile("Nom de la personne")).fill("")
    expect(rows).to_have_count(2)

    page.get_by_role("link", name=ids["ref"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Demande {ids['ref']}")
    expect(page.get_by_test_id("demande-sla")).to_contain_text("pour contacter la personne")
    axe_check(page)

    # Take it (htmx: the demande block is swapped, the notice appears).
    page.get_by_role("button", name="Prendre en charge").click()
    expect(page.locator("#flash")).to_contain_text("Vous avez pris en charge la demande.")
    expect(page.get_by_test_id("actions")).to_contain_text("(vous)")
    expect(page.get_by_test_id("timeline")).to_contain_text("Prise en charge par la caisse")

    # A NIR in the reply: refused in place, the text kept.
    reply = page.get_by_role("textbox", name=re.compile("Votre réponse à la structure"))
    reply.fill("Son NIR est le 2 57 11 74 123 456 42.")
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.get_by_role("button", name="Envoyer la réponse").click()
    assert info.value.status == 422
    expect(page.locator("#reply-body-error")).to_contain_text("numéro de sécurité sociale (NIR)")
    expect(reply).to_have_value("Son NIR est le 2 57 11 74 123 456 42.")
    axe_check(page)

    reply.fill(REPLY)
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.locator("#flash")).to_contain_text("Réponse envoyée")
    expect(page.get_by_test_id("thread")).to_contain_text(REPLY)
    expect(page.get_by_test_id("timeline")).to_contain_text("Réponse de la caisse")
    screenshot(page, "traitement-demande")

    # The technicien's e-mails: reference and link, nothing about the person.
    mail = _wait_for_mail(smtp_server, ids["tech_email"], "nouvelle réponse")
    _wait_for_mail(smtp_server, ids["tech_email"], "prise en charge")
    assert ids["ref"] in mail.subject and ids["ref"] in mail.text
    assert f"/demandes/{ids['demande_id']}" in mail.text
    for m in smtp_server.messages:
        blob = "\n".join((m.subject, m.text, m.html))
        for secret in (PERSON["nom"], PERSON["prenom"], DEPARTEMENT, *BIRTH_SPELLINGS, REPLY[:30]):
            assert secret not in blob, (secret, m.subject)

    # After a reload (no JS involved), the reply is still in the timeline.
    page.reload()
    expect(page.get_by_test_id("thread")).to_contain_text(REPLY)
