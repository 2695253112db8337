import re

import pytest

from ep_web.domain.accounts import create_technicien, request_password_reset
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent, TokenPurpose
from ep_web.transaction import commit
from tests.conftest import PASSWORD


def _post_login(client, login, password):
    return client.post("/connexion", data={"login": login, "password": password})


def test_unknown_login_and_wrong_password_get_the_same_message(client, make):
    tech = make.technicien(make.partenaire(make.caisse()))
    wrong_pw = _post_login(client, tech.login, "Mauvais-Motdepasse-1!")
    unknown = _post_login(client, "TZZZZZZZ", "Mauvais-Motdepasse-1!")
    assert wrong_pw.status_code == unknown.status_code == 422
    for resp in (wrong_pw, unknown):
        assert "Identifiant ou mot de passe incorrect." in resp.get_data(as_text=True)
    # The typed login is kept, the password is not.
    assert f'value="{tech.login}"' in wrong_pw.get_data(as_text=True)


def test_lock_after_repeated_failures_for_existing_and_unknown_logins(client, make, clock, app):
    tech = make.technicien(make.partenaire(make.caisse()))
    for login in (tech.login, "TNOBODY1"):
        for _ in range(4):
            assert "incorrect" in _post_login(client, login, "nope").get_data(as_text=True)
        body = _post_login(client, login, "nope").get_data(as_text=True)
        assert "Trop de tentatives" in body
    # Even the right password is refused while locked…
    assert "Trop de tentatives" in _post_login(client, tech.login, PASSWORD).get_data(as_text=True)
    # …and accepted once the lock has expired.
    clock.advance(minutes=app.config["LOGIN_LOCK_MINUTES"] + 1)
    assert _post_login(client, tech.login, PASSWORD).status_code == 302
    actions = db.session.scalars(db.select(AuditEvent.action)).all()
    assert "login_locked" in actions and "login" in actions


def test_session_ends_when_account_inactivated_elsewhere(client, make, login):
    w = make.world()
    login(w.technicien)
    assert client.get("/").status_code == 200
    from ep_web.domain.accounts import inactivate

    inactivate(w.technicien, actor=w.gestionnaire, reason="départ")
    commit()
    resp = client.get("/")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]


def test_session_ends_when_partner_suspended(client, make, login):
    w = make.world()
    login(w.technicien)
    from ep_web.domain.partenaires import suspend

    suspend(w.admin, w.partenaire, "fraude")
    commit()
    assert client.get("/").status_code == 302


def test_session_ends_when_password_changed_elsewhere(app, make, login):
    w = make.world()
    c1, c2 = app.test_client(), app.test_client()
    login(w.technicien, c=c1)
    login(w.technicien, c=c2)
    resp = c2.post("/mot-de-passe", data={"current": PASSWORD, "password": "Rq7!vLm#T9wz", "confirm": "Rq7!vLm#T9wz"})
    assert resp.status_code == 303
    assert c2.get("/").status_code == 200  # the session that changed it goes on
    assert c1.get("/").status_code == 302  # the other one ends


def test_idle_and_absolute_timeouts(client, make, login, clock):
    w = make.world()
    login(w.technicien)
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/").status_code == 302
    login(w.technicien)
    for _ in range(25):  # active all along, 25 × 29 min > 12 h
        clock.advance(minutes=29)
        resp = client.get("/")
        if resp.status_code == 302:
            break
    assert resp.status_code == 302
    assert "expiré" in client.get("/connexion").get_data(as_text=True)


def test_htmx_request_with_expired_session_gets_hx_redirect(client, make, login, clock):
    w = make.world()
    login(w.technicien)
    clock.advance(hours=1)
    resp = client.get("/", headers={"HX-Request": "true"})
    assert resp.headers.get("HX-Redirect", "").startswith("/connexion")


def test_cgu_gate_first_login_and_new_version(client, make, login):
    make.cgu(1)
    w = make.world()
    w.technicien.cgu_version = None
    db.session.commit()
    login(w.technicien)
    resp = client.get("/")
    assert resp.status_code == 302 and "/cgu" in resp.headers["Location"]
    assert client.post("/cgu", data={"version": "1"}).status_code == 422  # box not ticked
    assert client.post("/cgu", data={"version": "1", "accept": "y"}).status_code == 303
    assert client.get("/").status_code == 200
    make.cgu(2)
    assert "/cgu" in client.get("/").headers["Location"]


def test_cgu_changed_while_reading_asks_to_read_the_new_version(client, make, login):
    make.cgu(1)
    w = make.world()
    w.technicien.cgu_version = None
    db.session.commit()
    login(w.technicien)
    make.cgu(2)  # published while the technicien was reading version 1
    resp = client.post("/cgu", data={"version": "1", "accept": "y"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Les conditions ont changé entre-temps : relisez la nouvelle version." in page
    assert re.search(r'name="version"[^>]*value="2"', page) and "checked" not in page
    assert client.post("/cgu", data={"version": "pas-un-nombre", "accept": "y"}).status_code == 422
    assert client.post("/cgu", data={"version": "2", "accept": "y"}).status_code == 303
    db.session.refresh(w.technicien)
    assert w.technicien.cgu_version == 2


def test_password_change_refusals_come_back_next_to_their_field(client, make, login):
    w = make.world()
    login(w.technicien)
    resp = client.post("/mot-de-passe", data={"current": "Pas-le-bon-42!", "password": "Rq7!vLm#T9wz",
                                              "confirm": "Rq7!vLm#T9wz"})
    assert resp.status_code == 422
    assert re.search(r'id="current-error"[^>]*>.*?Mot de passe actuel incorrect\.', resp.get_data(as_text=True), re.S)
    resp = client.post("/mot-de-passe", data={"current": PASSWORD, "password": "court", "confirm": "court"})
    assert resp.status_code == 422 and 'id="password-error"' in resp.get_data(as_text=True)
    resp = client.post("/mot-de-passe", data={"current": PASSWORD, "password": "Rq7!vLm#T9wz",
                                              "confirm": "Rq7!vLm#T9wz"})
    assert resp.status_code == 303
    assert client.get("/").status_code == 200  # this session stays logged in
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "password_changed"))


def test_expired_password_forces_a_change(client, make, login, clock):
    w = make.world()
    login(w.technicien)
    clock.advance(days=366)
    login(w.technicien)
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/mot-de-passe")


def _link(body, path):
    return re.search(rf"http://ep\.test({path}/[\w-]+)", body).group(1)


def test_activation_link_is_single_use_and_expires(client, make, outbox, clock):
    w = make.world()
    tech = create_technicien(w.gestionnaire, {"civilite": "M.", "nom": "Neuf", "prenom": "Paul",
                                              "email": f"paul.neuf@{w.partenaire.domain_list[0]}"})
    commit()
    mail = outbox(tech.email)[-1]
    assert tech.login in mail.body_text
    path = _link(mail.body_text, "/activation")
    weak = client.post(path, data={"password": "faible", "confirm": "faible"})
    assert weak.status_code == 422 and "trop faible" in weak.get_data(as_text=True)
    ok = client.post(path, data={"password": "Rq7!vLm#T9wz", "confirm": "Rq7!vLm#T9wz"})
    assert ok.status_code == 303
    db.session.refresh(tech)
    assert tech.status == AccountStatus.ACTIVE
    again = client.get(path)
    assert again.status_code == 410 and "déjà été utilisé" in again.get_data(as_text=True)

    other = create_technicien(w.gestionnaire, {"civilite": "M.", "nom": "Tard", "prenom": "Léo",
                                               "email": f"leo.tard@{w.partenaire.domain_list[0]}"})
    commit()
    late = _link(outbox(other.email)[-1].body_text, "/activation")
    clock.advance(hours=73)
    assert "expiré" in client.get(late).get_data(as_text=True)


def test_password_reset_never_tells_and_works(client, make, outbox):
    w = make.world()
    same = []
    for login in (w.technicien.login, "TNOBODY9"):
        resp = client.post("/mot-de-passe/oubli", data={"login": login}, follow_redirects=True)
        same.append("Si un compte actif correspond" in resp.get_data(as_text=True))
    assert same == [True, True]
    mails = outbox(w.technicien.email)
    assert len(mails) == 1 and "Mot de passe" not in mails[0].subject.split("Réinitialisation")[0]
    path = _link(mails[0].body_text, "/mot-de-passe/reinitialiser")
    assert client.post(path, data={"password": "Bz8?kPo%N4xs", "confirm": "Bz8?kPo%N4xs"}).status_code == 303
    assert client.post("/connexion", data={"login": w.technicien.login, "password": "Bz8?kPo%N4xs"}).status_code == 302


def test_no_email_ever_contains_a_password(app, make, outbox):
    w = make.world()
    request_password_reset(w.technicien.login)
    create_technicien(w.gestionnaire, {"civilite": "M.", "nom": "Neuf", "prenom": "Paul",
                                       "email": f"paul.neuf@{w.partenaire.domain_list[0]}"})
    commit()
    for mail in outbox():
        assert PASSWORD not in mail.body_text and "mot de passe :" not in mail.body_text.lower()


def test_tokens_are_stored_hashed(app, make, outbox):
    from ep_web.models import AccountToken

    w = make.world()
    request_password_reset(w.technicien.login)
    commit()
    raw = _link(outbox()[-1].body_text, "/mot-de-passe/reinitialiser").rsplit("/", 1)[1]
    stored = db.session.scalars(db.select(AccountToken.token_hash)).all()
    assert raw not in stored and len(stored[0]) == 64
    assert db.session.scalars(db.select(AccountToken.purpose)).all() == [TokenPurpose.RESET]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_login_next_parameter_cannot_leave_the_site(client, make, target):
    tech = make.technicien(make.partenaire(make.caisse()))
    resp = client.post(f"/connexion?next={target}", data={"login": tech.login, "password": PASSWORD})
    assert resp.headers["Location"] == "/"
