"""ProConnect (SPEC §3) against a real OpenID Connect provider served on
localhost by the tests (tests/oidc_provider.py, Authlib's server side): the
authorization code flow with PKCE, state and nonce checked, existing active
accounts only, linked by e-mail then by subject, the provider's second factor
counted, logout through its end_session_endpoint."""
import html
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from ep_web.domain.auth import PROCONNECT_INACTIVE
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, AuditEvent
from tests.conftest import totp_code
from tests.oidc_provider import Provider

CALLBACK = "http://ep.test/connexion/proconnect/retour"


@pytest.fixture
def provider(app):
    p = Provider().start()
    app.config.update(p.config(CALLBACK))
    yield p
    p.stop()


def _to_provider_and_back(client, provider) -> str:
    """Follow the redirection to the provider, which logs ``provider.user`` in
    and sends the browser back: the callback path with its code and state."""
    resp = client.get("/connexion/proconnect")
    assert resp.status_code == 302, _text(resp)
    authorize = resp.headers["Location"]
    assert authorize.startswith(provider.issuer + "/authorize?")
    back = requests.get(authorize, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    assert back.headers["Location"].startswith(CALLBACK + "?")
    return back.headers["Location"].removeprefix("http://ep.test")


def _proconnect(client, provider):
    return client.get(_to_provider_and_back(client, provider))


def _text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _actions():
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def test_the_button_shows_only_when_configured(client, app):
    assert "ProConnect" not in client.get("/connexion").get_data(as_text=True)
    assert client.get("/connexion/proconnect").status_code == 404
    app.config.update(PROCONNECT_DISCOVERY_URL="http://127.0.0.1:9/x", PROCONNECT_CLIENT_ID="x")
    page = client.get("/connexion").get_data(as_text=True)
    assert 'class="fr-connect fr-connect--pro"' in page and "S’identifier avec" in page


def test_first_login_links_by_email_then_by_subject(client, app, make, provider, clock):
    tech = make.technicien(make.partenaire(make.caisse()), last_login_at=None)
    provider.user = {"sub": "pc-sub-42", "email": tech.email.upper(), "acr": "eidas1"}
    resp = _proconnect(client, provider)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    db.session.refresh(tech)
    assert tech.proconnect_sub == "pc-sub-42"
    assert tech.last_login_at == clock.now()  # the idle rule counts this login
    assert _actions()[-2:] == ["proconnect_linked", "login"]
    # PKCE (S256), state and nonce were sent.
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["nonce"] and sent["state"]
    # Next time the subject decides, whatever the e-mail says now.
    other = app.test_client()
    provider.user = {"sub": "pc-sub-42", "email": "nouvelle.adresse@exemple.test", "acr": "eidas1"}
    assert _proconnect(other, provider).headers["Location"] == "/"


def test_an_unknown_address_is_refused_and_no_account_is_created(client, make, provider):
    make.technicien(make.partenaire(make.caisse()))
    before = db.session.scalar(select(func.count()).select_from(Account))
    provider.user = {"sub": "pc-inconnu", "email": "personne.inconnue@exemple.test"}
    resp = _proconnect(client, provider)
    body = _text(resp)
    assert resp.status_code == 403
    assert "Aucun compte Espace Partenaires actif n'utilise l'adresse personne.inconnue@exemple.test" in body
    assert "ProConnect ne crée pas de compte" in body
    assert db.session.scalar(select(func.count()).select_from(Account)) == before
    assert "/connexion" in client.get("/").headers["Location"]


@pytest.mark.parametrize("how", ["inactive", "suspended", "linked_then_inactivated"])
def test_inactive_accounts_and_suspended_partners_are_refused(client, make, provider, clock, how):
    partenaire = make.partenaire(make.caisse())
    tech = make.technicien(partenaire, status=AccountStatus.INACTIVE if how == "inactive" else AccountStatus.ACTIVE,
                           proconnect_sub="pc-lie" if how == "linked_then_inactivated" else None)
    if how == "suspended":
        partenaire.suspended_at = clock.now()
    if how == "linked_then_inactivated":
        tech.status = AccountStatus.INACTIVE
    db.session.commit()
    if how == "suspended":
        assert partenaire.is_suspended
    provider.user = {"sub": "pc-lie" if how == "linked_then_inactivated" else "pc-autre", "email": tech.email}
    resp = _proconnect(client, provider)
    assert resp.status_code == 403 and PROCONNECT_INACTIVE.split(":")[0] in _text(resp)


def test_a_wrong_nonce_is_refused(client, make, provider):
    tech = make.technicien(make.partenaire(make.caisse()))
    provider.user = {"sub": "pc-1", "email": tech.email}
    provider.tamper_nonce = True
    resp = _proconnect(client, provider)
    assert resp.status_code == 403
    assert "La connexion avec ProConnect n'a pas abouti" in _text(resp)
    assert "/connexion" in client.get("/").headers["Location"]


def test_a_wrong_state_is_refused(client, app, make, provider):
    tech = make.technicien(make.partenaire(make.caisse()))
    provider.user = {"sub": "pc-1", "email": tech.email}
    path = _to_provider_and_back(client, provider)
    query = parse_qs(urlsplit(path).query)
    forged = f"/connexion/proconnect/retour?code={query['code'][0]}&state=etat-forge"
    resp = client.get(forged)
    assert resp.status_code == 403 and "a expiré ou a été ouverte dans un autre onglet" in _text(resp)
    # Another browser cannot use this browser's answer either (its session holds no such state).
    stranger = app.test_client()
    assert stranger.get(path).status_code == 403
    assert "/connexion" in stranger.get("/").headers["Location"]


def test_the_portal_second_factor_is_asked_unless_proconnect_used_one(client, app, make, provider):
    g = make.gestionnaire(make.partenaire(make.caisse()))
    provider.user = {"sub": "pc-g", "email": g.email, "acr": "eidas1"}
    resp = _proconnect(client, provider)
    assert resp.headers["Location"].endswith("/connexion/code")
    resp = client.post("/connexion/code", data={"code": totp_code(g)})
    assert resp.status_code == 303 and client.get("/gestion/").status_code == 200
    # A level of assurance with a second factor satisfies ours.
    other = app.test_client()
    provider.user = {"sub": "pc-g", "email": g.email, "acr": "eidas2"}
    assert _proconnect(other, provider).headers["Location"] == "/"
    assert other.get("/gestion/").status_code == 200
    assert "proconnect+mfa" in str(db.session.scalars(select(AuditEvent.details)
                                                       .where(AuditEvent.action == "login")).all())


def test_a_provider_second_factor_spares_the_enrolment(client, app, make, provider):
    g = make.gestionnaire(make.partenaire(make.caisse()), second_factor=False, last_login_at=None)
    provider.user = {"sub": "pc-g2", "email": g.email, "acr": "eidas1", "amr": ["pwd", "mfa"]}
    _proconnect(client, provider)
    assert client.get("/gestion/").status_code == 200
    provider.user = {"sub": "pc-g2", "email": g.email, "acr": "eidas1", "amr": ["pwd"]}
    other = app.test_client()
    _proconnect(other, provider)
    assert "/compte/double-authentification" in other.get("/gestion/").headers["Location"]


def test_logout_ends_the_proconnect_session(client, make, provider):
    tech = make.technicien(make.partenaire(make.caisse()))
    provider.user = {"sub": "pc-t", "email": tech.email}
    _proconnect(client, provider)
    resp = client.post("/deconnexion")
    assert resp.status_code == 303
    target = resp.headers["Location"]
    assert target.startswith(provider.issuer + "/session/end?")
    params = parse_qs(urlsplit(target).query)
    assert params["post_logout_redirect_uri"] == ["http://ep.test/connexion"] and params["id_token_hint"][0]
    assert "/connexion" in client.get("/").headers["Location"]  # logged out here already
    back = requests.get(target, allow_redirects=False, timeout=10)
    assert back.headers["Location"].startswith("http://ep.test/connexion")
    assert provider.end_session_calls


def test_the_provider_unreachable_gives_a_message_not_an_error(client, app, make):
    app.config.update(PROCONNECT_DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration",
                      PROCONNECT_CLIENT_ID="x", PROCONNECT_TIMEOUT=2)
    resp = client.get("/connexion/proconnect/retour?code=abc&state=def")
    assert resp.status_code == 403 and "ProConnect" in _text(resp)


def test_the_csp_lets_forms_reach_the_provider_only_when_configured(client, app, provider):
    csp = client.get("/connexion").headers["Content-Security-Policy"]
    assert f"form-action 'self' {provider.issuer};" in csp
    app.config.update(PROCONNECT_DISCOVERY_URL="")
    assert "form-action 'self';" in client.get("/connexion").headers["Content-Security-Policy"]
