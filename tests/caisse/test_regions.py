"""The partner's page and its three sub-forms (new gestionnaire, review campaign,
suspension): each is its own region, the one htmx swaps when its form comes back
(422); without JavaScript the whole page comes back with the error next to the
field; a refusal for a form the page no longer shows goes to #flash."""
from datetime import timedelta

import pytest

from ep_web.domain.conventions import terminate
from ep_web.domain.reviews import open_review
from ep_web.models import AccountStatus
from ep_web.transaction import commit
from tests.caisse.helpers import gestionnaire_form, partner_accounts, text

HX = {"HX-Request": "true"}

# Each region: its opening tag, its URL suffix and form data that the form or the domain refuses on a field.
REGIONS = {
    "gestionnaire": ('<div id="nouveau-gestionnaire">', "gestionnaires",
                     gestionnaire_form(email="alice.fictif@gmail.com"), 'id="g-email-error"'),
    "revue": ('<section id="revue" class="fr-mb-5w">', "revue", {"review-deadline": "2026-03-02"},
              'id="review-deadline-error"'),
    "suspension": ('<section id="suspendre" class="fr-mb-5w">', "suspendre", {"suspend-reason": " "},
                   'id="suspend-reason-error"'),
}


def _flash(body: str) -> str:
    """The content of the #flash region (page or out-of-band swap)."""
    return body.split('id="flash"', 1)[1].split("</div>\n", 1)[0] if 'id="flash"' in body else ""


@pytest.mark.parametrize("name", REGIONS)
def test_htmx_422_swaps_only_that_region(client, make, login, name):
    w = make.world()
    login(w.admin)
    tag, suffix, data, error = REGIONS[name]
    page = client.get(f"/caisse/partenaires/{w.partenaire.id}").get_data(as_text=True)
    region_id = tag.split('id="')[1].split('"')[0]
    assert tag in page and f'hx-target="#{region_id}"' in page  # the page includes the same partial

    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/{suffix}", data=data, headers=HX)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert body.lstrip().startswith(tag) and error in body
    assert f'hx-target="#{region_id}"' in body  # still enhanced after the swap
    others = [t for n, (t, *_) in REGIONS.items() if n != name]
    for absent in [*others, "<html", 'id="quotas"', 'id="conventions"', f'id="compte-{w.technicien.id}"']:
        assert absent not in body, absent


@pytest.mark.parametrize("name", REGIONS)
def test_without_javascript_the_page_comes_back_with_the_error_next_to_the_field(client, make, login, name):
    w = make.world()
    login(w.admin)
    tag, suffix, data, error = REGIONS[name]
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/{suffix}", data=data)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "<html" in body
    assert error in body.split(tag, 1)[1]  # inside its region
    assert 'id="quotas"' in body and 'id="conventions"' in body


def test_a_refusal_on_no_field_goes_to_flash_and_the_region_keeps_what_was_typed(client, make, login):
    w = make.world()
    make.gestionnaire(w.partenaire)  # 3 / 3
    login(w.admin)
    data = gestionnaire_form(prenom="Quatrième", email=f"quatrieme@{w.partenaire.domain_list[0]}")
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires", data=data, headers=HX)
    body = resp.get_data(as_text=True)
    message = "Quota atteint : 3 / 3 gestionnaires pour une structure de 12 membres."
    assert resp.status_code == 422 and body.lstrip().startswith('<div id="nouveau-gestionnaire">')
    assert 'value="Quatrième"' in body
    region, flash = body.split('<div id="flash"', 1)
    assert message in flash and 'hx-swap-oob="innerHTML"' in flash and 'role="alert"' in flash
    # Written at the top of the form too, as a message: announced once, by #flash.
    assert message in region.split('id="form-error"', 1)[1] and 'role="alert"' not in region
    assert len(partner_accounts(w.partenaire)) == 4


def test_a_refusal_for_a_form_the_page_no_longer_shows_goes_to_flash(client, make, login):
    w = make.world()
    login(w.admin)
    # Another referent opened a campaign meanwhile: the page no longer offers the form.
    open_review(w.admin, w.partenaire, w.partenaire.created_at.date() + timedelta(days=20))
    commit()
    url = f"/caisse/partenaires/{w.partenaire.id}/revue"
    message = "Une revue des habilitations est déjà en cours pour cette structure."

    resp = client.post(url, data={"review-deadline": "2026-04-01"}, headers=HX)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and body.lstrip().startswith('<section id="revue"')
    assert "Revue en cours" in body and "Ouvrir une revue" not in body
    assert message in _flash(body)

    resp = client.post(url, data={"review-deadline": "2026-04-01"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "<html" in body and message in _flash(body)


def test_once_the_convention_ended_the_caisse_is_refused_with_the_domain_message(client, make, login):
    w = make.world()
    login(w.admin)
    terminate(w.admin, w.partenaire.conventions[0], reason="Fin")
    commit()
    message = "Seule une caisse en convention avec la structure crée ses gestionnaires."
    url = f"/caisse/partenaires/{w.partenaire.id}/gestionnaires"
    data = gestionnaire_form(email=f"x@{w.partenaire.domain_list[0]}")

    resp = client.post(url, data=data, headers=HX)
    assert resp.status_code == 403 and resp.headers["HX-Reswap"] == "none"
    assert message in text(resp) and "<html" not in resp.get_data(as_text=True)

    resp = client.post(url, data=data)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 403 and message in _flash(body)
    assert '<div id="nouveau-gestionnaire">' in body and "Créer le gestionnaire" not in body
    assert {a.status for a in partner_accounts(w.partenaire)} == {AccountStatus.INACTIVE}


def test_htmx_success_reloads_the_partner_page_with_its_message(client, make, login, outbox):
    w = make.world()
    login(w.admin)
    email = f"nouvelle@{w.partenaire.domain_list[0]}"
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires",
                       data=gestionnaire_form(prenom="Nouvelle", email=email), headers=HX)
    # A new row, the quotas and the form change at once: htmx loads the page again
    # (an address that differed only by its anchor would not reload it).
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == f"/caisse/partenaires/{w.partenaire.id}"
    page = text(client.get(resp.headers["HX-Redirect"]))
    assert "Compte gestionnaire créé pour Nouvelle Fictif" in page and "gestionnaires 3 / 3" in page
    assert [m.template for m in outbox(email)] == ["activation"]
