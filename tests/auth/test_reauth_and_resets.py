"""Asked again before sensitive acts after 15 minutes, back to the action with
what was typed (SPEC §3); the manager's reset of a lost second factor."""
import html
import re

import pyotp
import pytest
from sqlalchemy import select

from ep_web.domain import second_factor
from ep_web.extensions import db
from ep_web.models import Account, AuditEvent, RecoveryCode
from tests.conftest import PASSWORD, TOTP_SECRET

HTMX = {"HX-Request": "true"}


def _typed(partenaire, n=1):
    return {"civilite": "Mme", "nom": f"Essai{chr(ord('A') + n)}", "prenom": "Camille", "fonction": "Conseillère",
            "telephone": "01 23 45 67 89", "email": f"camille.essai{n}@{partenaire.domain_list[0]}"}


def _carried(body: str) -> dict:
    """What the question page posts back: the typed fields, and its own marker."""
    fields = {html.unescape(m.group(1)): html.unescape(m.group(2))
              for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)}
    assert 'name="ep_reauth"' in body
    return {**fields, "ep_reauth": "1"}


def _created(email):
    return db.session.scalar(select(Account).where(Account.email == email))


@pytest.fixture
def setup(make, login, client):
    caisse = make.caisse()
    partenaire = make.partenaire(caisse)
    g = make.gestionnaire(partenaire)
    login(g)
    return partenaire, g


def test_no_question_within_15_minutes(client, setup, clock):
    partenaire, _ = setup
    clock.advance(minutes=14)
    data = _typed(partenaire)
    assert client.post("/gestion/techniciens", data=data).status_code == 303
    assert _created(data["email"]) is not None


def test_after_15_minutes_the_code_is_asked_and_the_action_goes_on_with_what_was_typed(client, setup, clock):
    partenaire, _ = setup
    clock.advance(minutes=16)
    data = _typed(partenaire)
    asked = client.post("/gestion/techniciens", data=data)
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Confirmez votre identité" in page
    assert _created(data["email"]) is None
    carried = _carried(page)
    assert {k: carried[k] for k in data} == data  # everything typed travels back
    # A wrong code: asked again, still carrying the typed fields.
    wrong = client.post("/gestion/techniciens", data={**carried, "ep_reauth_secret": "000000"})
    assert wrong.status_code == 422 and "Code incorrect" in wrong.get_data(as_text=True)
    assert _carried(wrong.get_data(as_text=True))["email"] == data["email"]
    assert _created(data["email"]) is None
    done = client.post("/gestion/techniciens",
                       data={**carried, "ep_reauth_secret": pyotp.TOTP(TOTP_SECRET).at(clock.now())})
    assert done.status_code == 303
    assert _created(data["email"]).nom == "EssaiB"
    # The check is fresh again for 15 minutes.
    assert client.post("/gestion/techniciens", data=_typed(partenaire, 2)).status_code == 303
    assert "reauthenticated" in db.session.scalars(select(AuditEvent.action)).all()


def test_an_htmx_form_gets_the_question_in_place_of_the_page_content(client, setup, clock):
    partenaire, _ = setup
    clock.advance(minutes=20)
    resp = client.post("/gestion/techniciens", data=_typed(partenaire), headers=HTMX)
    assert resp.headers["HX-Retarget"] == "#contenu" and resp.headers["HX-Reswap"] == "innerHTML"
    body = resp.get_data(as_text=True)
    assert "<html" not in body and 'action="/gestion/techniciens"' in body and "hx-post" not in body


def test_an_export_goes_through_the_confirmation_page_and_back(client, setup, clock):
    clock.advance(minutes=16)
    resp = client.get("/gestion/habilitations.csv")
    assert resp.status_code == 302
    assert "/connexion/confirmer?next=/gestion/habilitations.csv" in resp.headers["Location"]
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    ok = client.post(resp.headers["Location"], data={"ep_reauth": "1",
                                                     "ep_reauth_secret": pyotp.TOTP(TOTP_SECRET).at(clock.now())})
    assert ok.status_code == 303 and ok.headers["Location"] == "/gestion/habilitations.csv"
    assert client.get("/gestion/habilitations.csv").status_code == 200


def test_an_account_without_a_factor_confirms_with_its_password(client, make, login, clock):
    partenaire = make.partenaire(make.caisse())
    g = make.gestionnaire(partenaire, second_factor=False)  # in its 14 days of grace
    login(g)
    clock.advance(minutes=16)
    data = _typed(partenaire)
    page = client.post("/gestion/techniciens", data=data).get_data(as_text=True)
    assert "Mot de passe" in page
    carried = _carried(page)
    assert client.post("/gestion/techniciens", data={**carried, "ep_reauth_secret": "faux"}).status_code == 422
    assert client.post("/gestion/techniciens", data={**carried, "ep_reauth_secret": PASSWORD}).status_code == 303
    assert _created(data["email"]) is not None


def test_admin_caisse_resets_a_gestionnaire(client, make, login, outbox, clock):
    caisse = make.caisse()
    partenaire = make.partenaire(caisse)
    g = make.gestionnaire(partenaire)
    second_factor.regenerate_recovery_codes(g)
    db.session.commit()
    admin = make.admin_caisse(caisse)
    login(admin)
    page = client.get(f"/caisse/partenaires/{partenaire.id}/gestionnaires/{g.id}").get_data(as_text=True)
    assert "Réinitialiser la double authentification" in page
    resp = client.post(f"/comptes/{g.id}/double-authentification/reinitialiser"
                       f"?next=/caisse/partenaires/{partenaire.id}/gestionnaires/{g.id}", data={"confirmed": "1"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/gestionnaires/{g.id}")
    db.session.refresh(g)
    assert g.totp_secret is None and not db.session.scalars(
        select(RecoveryCode).where(RecoveryCode.account_id == g.id)).all()
    mail = outbox(g.email)[-1]
    assert "réinitialisée" in mail.subject and g.login in mail.body_text
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "second_factor_reset")).one()
    assert event.actor_id == admin.id
    # The holder enrols again at the next login, with no grace.
    other = client.application.test_client()
    first = other.post("/connexion", data={"login": g.login, "password": PASSWORD})
    assert first.status_code == 302, first.get_data(as_text=True)
    assert first.headers["Location"] == "/"
    assert "/compte/double-authentification" in other.get("/gestion/").headers["Location"]
    # Nothing left to reset: said plainly.
    again = client.post(f"/comptes/{g.id}/double-authentification/reinitialiser", data={"confirmed": "1"})
    assert again.status_code == 422


@pytest.mark.parametrize("manager, target, status", [
    ("gestionnaire", "technicien", 303),
    ("gestionnaire", "other_technicien", 404),
    ("gestionnaire", "gestionnaire2", 404),
    ("admin", "gestionnaire", 303),
    ("admin", "agent", 303),
    ("admin", "technicien", 403),
    ("admin", "other_gestionnaire", 404),
    ("national", "admin", 303),
    ("national", "gestionnaire", 404),
    ("agent", "technicien", 404),
])
def test_who_resets_whom(client, make, login, manager, target, status):
    w = make.world()
    account = getattr(w, target)
    second_factor.enrol_with_secret(account, TOTP_SECRET)
    db.session.commit()
    login(getattr(w, manager))
    resp = client.post(f"/comptes/{account.id}/double-authentification/reinitialiser", data={"confirmed": "1"})
    assert resp.status_code == status
    db.session.refresh(account)
    assert (account.totp_secret is None) == (status == 303)


SENSITIVE = [  # (who, method, url template): SPEC §3's sensitive acts
    ("gestionnaire", "POST", "/gestion/techniciens"),
    ("gestionnaire", "POST", "/gestion/techniciens/{technicien}/signaler"),
    ("gestionnaire", "GET", "/gestion/habilitations.csv"),
    ("gestionnaire", "GET", "/gestion/habilitations.xlsx"),
    ("admin", "POST", "/caisse/partenaires/{partenaire}/gestionnaires"),
    ("admin", "POST", "/caisse/partenaires/{partenaire}/gestionnaires/{gestionnaire}"),
    ("admin", "POST", "/caisse/partenaires/{partenaire}/gestionnaires/{gestionnaire}/inactivation-programmee"),
    ("admin", "POST", "/caisse/partenaires/{partenaire}/comptes/{technicien}/inactiver"),
    ("admin", "POST", "/caisse/agents"),
    ("admin", "POST", "/caisse/agents/{agent}/inactiver"),
    ("admin", "POST", "/caisse/partenaires/{partenaire}/suspendre"),
    ("admin", "POST", "/comptes/{gestionnaire}/double-authentification/reinitialiser"),
    ("national", "POST", "/national/caisses/nouvelle"),
    ("national", "POST", "/national/caisses/{caisse}/referents/nouveau"),
    ("national", "POST", "/national/caisses/{caisse}/referents/{admin}/inactiver"),
    ("gestionnaire", "POST", "/compte/codes-de-secours"),
]


@pytest.mark.parametrize("who, method, url", SENSITIVE)
def test_every_sensitive_act_asks_again_after_15_minutes(client, make, login, clock, who, method, url):
    w = make.world()
    ids = {name: getattr(w, name).id for name in ("technicien", "partenaire", "gestionnaire", "agent", "caisse",
                                                  "admin")}
    url = url.format(**ids)
    login(getattr(w, who))
    clock.advance(minutes=16)
    if method == "GET":
        resp = client.get(url)
        assert resp.status_code == 302 and "/connexion/confirmer" in resp.headers["Location"]
    else:
        resp = client.post(url, data={"reason": "Motif"})
        assert resp.status_code == 200 and "Confirmez votre identité" in resp.get_data(as_text=True)
