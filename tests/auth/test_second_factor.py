"""Second factor (SPEC §3): TOTP after the password, no replay, ±1 step of drift,
the password's throttle, recovery codes, enrolment (first login, 14-day grace),
the caisse's setting for agents, "Mon compte"."""
import re
from datetime import timedelta

import pyotp
import pytest

from ep_web.domain import second_factor
from ep_web.extensions import db
from ep_web.models import AuditEvent, RecoveryCode
from tests.conftest import PASSWORD, TOTP_SECRET, totp_code


def _password(client, account, password=PASSWORD):
    return client.post("/connexion", data={"login": account.login, "password": password})


def _code_at(clock, steps=0, secret=TOTP_SECRET):
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))


def _actions():
    return db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()


@pytest.fixture
def gestionnaire(make):
    return make.gestionnaire(make.partenaire(make.caisse()))


def test_password_then_code(client, gestionnaire, clock):
    resp = _password(client, gestionnaire)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/connexion/code")
    # Not logged in yet: the password alone opens nothing.
    assert "/connexion" in client.get("/gestion/").headers["Location"]
    page = client.get("/connexion/code")
    assert page.status_code == 200 and gestionnaire.login in page.get_data(as_text=True)
    assert "login" not in _actions()
    wrong = client.post("/connexion/code", data={"code": "000000" if _code_at(clock) != "000000" else "111111"})
    assert wrong.status_code == 422
    assert "Code incorrect ou déjà utilisé" in wrong.get_data(as_text=True)
    assert 'aria-invalid="true"' in wrong.get_data(as_text=True)
    ok = client.post("/connexion/code", data={"code": _code_at(clock)})
    assert ok.status_code == 303 and ok.headers["Location"] == "/"
    assert client.get("/gestion/").status_code == 200
    actions = _actions()
    assert "second_factor_failed" in actions and actions[-1] == "login"


def test_a_code_is_valid_once_and_drift_is_one_step(client, app, gestionnaire, clock):
    _password(client, gestionnaire)
    assert client.post("/connexion/code", data={"code": _code_at(clock)}).status_code == 303
    other = app.test_client()
    _password(other, gestionnaire)
    # The same code again (a replay, even from another browser) is refused…
    assert other.post("/connexion/code", data={"code": _code_at(clock)}).status_code == 422
    # …and so is the one before it; two steps ahead is too far for any phone.
    assert other.post("/connexion/code", data={"code": _code_at(clock, -1)}).status_code == 422
    assert other.post("/connexion/code", data={"code": _code_at(clock, 2)}).status_code == 422
    # A phone 30 s fast is accepted.
    assert other.post("/connexion/code", data={"code": _code_at(clock, 1)}).status_code == 303


def test_a_phone_30_seconds_late_is_accepted(client, gestionnaire, clock):
    _password(client, gestionnaire)
    assert client.post("/connexion/code", data={"code": _code_at(clock, -1)}).status_code == 303


def test_wrong_codes_lock_like_wrong_passwords(client, app, gestionnaire, clock):
    _password(client, gestionnaire)
    bad = "123456" if _code_at(clock) != "123456" else "654321"
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert "Code incorrect" in client.post("/connexion/code", data={"code": bad}).get_data(as_text=True)
    locked = client.post("/connexion/code", data={"code": bad})
    assert "Trop de tentatives" in locked.get_data(as_text=True)
    # Locked: the right code, and the right password, are refused alike.
    assert "Trop de tentatives" in client.post("/connexion/code", data={"code": _code_at(clock)}).get_data(
        as_text=True)
    assert "Trop de tentatives" in _password(client, gestionnaire).get_data(as_text=True)
    assert "login_locked" in _actions()
    clock.advance(minutes=app.config["LOGIN_LOCK_MINUTES"] + 1)
    assert _password(client, gestionnaire).headers["Location"].endswith("/connexion/code")
    assert client.post("/connexion/code", data={"code": _code_at(clock)}).status_code == 303


def test_password_success_does_not_reset_the_code_failures(client, app, gestionnaire, clock):
    """Knowing the password must not give fresh tries at the code."""
    bad = "123456" if _code_at(clock) != "123456" else "654321"
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _password(client, gestionnaire)
        client.post("/connexion/code", data={"code": bad})
    _password(client, gestionnaire)
    assert "Trop de tentatives" in client.post("/connexion/code", data={"code": bad}).get_data(as_text=True)


def test_the_second_step_expires(client, gestionnaire, clock):
    _password(client, gestionnaire)
    clock.advance(minutes=6)
    resp = client.post("/connexion/code", data={"code": _code_at(clock)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/connexion"


def test_recovery_code_works_once(client, app, make, gestionnaire, clock):
    codes = second_factor.regenerate_recovery_codes(gestionnaire)
    db.session.commit()
    stored = db.session.scalars(db.select(RecoveryCode.code_hash)).all()
    assert len(codes) == len(set(codes)) == 10 and len(stored) == 10
    assert not set(codes) & set(stored) and all(re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", c) for c in codes)
    _password(client, gestionnaire)
    # Typed in lower case, without the dash: still the code.
    assert client.post("/connexion/code", data={"code": codes[0].lower().replace("-", "")}).status_code == 303
    other = app.test_client()
    _password(other, gestionnaire)
    assert other.post("/connexion/code", data={"code": codes[0]}).status_code == 422
    assert "recovery_code_used" in _actions()
    assert second_factor.remaining_recovery_codes(gestionnaire) == 9


def test_first_login_enrols_after_the_cgu(client, make, clock):
    make.cgu()
    partenaire = make.partenaire(make.caisse())
    account = make.gestionnaire(partenaire, second_factor=False, last_login_at=None, cgu_version=None)
    resp = _password(client, account)
    assert resp.headers["Location"] == "/"  # no factor yet: logged in, then the gates
    assert "/cgu" in client.get("/").headers["Location"]
    client.post("/cgu", data={"version": "1", "accept": "y"})
    gate = client.get("/gestion/")
    assert gate.status_code == 302 and "/compte/double-authentification" in gate.headers["Location"]
    # A POST elsewhere is refused too.
    assert "/compte/double-authentification" in client.post("/gestion/techniciens").headers["Location"]
    page = client.get(gate.headers["Location"]).get_data(as_text=True)
    assert "<svg" in page and "Plus tard" not in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    # A reload shows the same secret (the phone may have scanned it already).
    assert secret in client.get("/compte/double-authentification").get_data(as_text=True)
    wrong = client.post("/compte/double-authentification", data={"code": "12345"})
    assert wrong.status_code == 422 and "Code incorrect" in wrong.get_data(as_text=True)
    done = client.post("/compte/double-authentification", data={"code": pyotp.TOTP(secret).at(clock.now())})
    assert done.status_code == 200
    codes = re.findall(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>", done.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/gestion/").status_code == 200
    db.session.refresh(account)
    assert account.totp_secret == secret and account.totp_pending_secret is None
    assert "second_factor_enrolled" in _actions()
    # "Mon compte" lists the factor and the codes left.
    mine = client.get("/compte").get_data(as_text=True)
    assert "Activée" in mine and 'data-testid="recovery-left">10<' in mine


def test_existing_account_gets_14_days_of_grace_with_a_banner(client, make, clock):
    account = make.gestionnaire(make.partenaire(make.caisse()), second_factor=False)  # logged in before
    assert _password(client, account).headers["Location"] == "/"
    page = client.get("/gestion/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "La double authentification devient obligatoire pour votre compte le 16/03/2026" in body
    assert "Plus tard" in client.get("/compte/double-authentification").get_data(as_text=True)
    clock.advance(days=14)
    client2 = client.application.test_client()
    _password(client2, account)
    assert "/compte/double-authentification" in client2.get("/gestion/").headers["Location"]


def test_optional_for_techniciens_and_agents_unless_the_caisse_requires_it(client, make, clock):
    caisse = make.caisse()
    tech = make.technicien(make.partenaire(caisse))
    agent = make.agent(caisse)
    for account in (tech, agent):
        assert not second_factor.required(account) and not account.has_second_factor
    second_factor.set_agents_required(caisse, True)
    db.session.commit()
    db.session.refresh(agent)
    assert second_factor.required(agent) and second_factor.in_grace(agent)
    assert agent.second_factor_grace_until == clock.now() + timedelta(days=14)
    assert not second_factor.required(tech)


def test_a_technicien_may_enrol_from_mon_compte(client, login, make, clock):
    tech = make.technicien(make.partenaire(make.caisse()))
    login(tech)
    page = client.get("/compte").get_data(as_text=True)
    assert "facultative" in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<',
                       client.get("/compte/double-authentification").get_data(as_text=True)).group(1)
    client.post("/compte/double-authentification", data={"code": pyotp.TOTP(secret).at(clock.now())})
    client.post("/deconnexion")
    clock.advance(minutes=1)
    assert _password(client, tech).headers["Location"].endswith("/connexion/code")


def test_the_login_fixture_satisfies_the_factor(client, login, gestionnaire):
    login(gestionnaire)
    login(gestionnaire, c=client.application.test_client())  # twice at the same frozen time
    assert totp_code().isdigit()
