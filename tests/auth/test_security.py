import pytest
from sqlalchemy import text

from ep_web import create_app
from ep_web.domain import audit
from ep_web.extensions import db
from ep_web.models import AuditEvent
from tests.conftest import PASSWORD


def test_security_headers(client):
    resp = client.get("/connexion")
    h = resp.headers
    assert "default-src 'self'" in h["Content-Security-Policy"]
    assert "'unsafe-inline'" not in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in h


def test_hsts_when_https(app, client):
    app.config["HTTPS"] = True
    assert "max-age" in client.get("/connexion").headers["Strict-Transport-Security"]


def test_production_session_cookie_flags(other_app, make):
    """An environment without EP_INSECURE_COOKIES is production: __Host- cookie, Secure."""
    prod = other_app({"WTF_CSRF_ENABLED": False}, environ={})
    assert prod.config["SESSION_COOKIE_NAME"] == "__Host-ep_session"
    login = make.technicien(make.partenaire(make.caisse())).login
    client = prod.test_client()
    resp = client.post("/connexion", data={"login": login, "password": PASSWORD}, base_url="https://localhost")
    assert resp.status_code == 302 and "/connexion" not in resp.headers["Location"]
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("__Host-ep_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in cookie
    assert "Domain=" not in cookie


def test_csrf_is_enforced(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    resp = client.post("/connexion", data={"login": "X", "password": "Y"})
    assert resp.status_code == 400
    assert "Formulaire expiré" in resp.get_data(as_text=True)


def test_french_error_pages(client, make, login):
    assert "Page introuvable" in client.get("/nulle-part").get_data(as_text=True)
    w = make.world()
    login(w.technicien)
    resp = client.get("/gestion/")
    assert resp.status_code == 403 and "Accès refusé" in resp.get_data(as_text=True)


def test_audit_log_is_append_only_in_orm_and_database(app, make):
    w = make.world()
    event = audit.record("login", w.technicien, ip="127.0.0.1")
    db.session.commit()
    event.action = "logout"
    with pytest.raises(RuntimeError):
        db.session.flush()
    db.session.rollback()
    for sql in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(Exception, match="append-only"):
            with db.session.begin_nested():
                db.session.execute(text(sql))
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id))) == 1


def test_insecure_cookies_only_when_asked_by_the_environment(monkeypatch):
    """The environment is read when the app is built (not when ep_web is imported)."""
    built = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ALLOW_UNSCANNED": True}, environ={})
    assert (built.config["SESSION_COOKIE_SECURE"], built.config["SESSION_COOKIE_NAME"]) == (True, "__Host-ep_session")
    monkeypatch.setenv("EP_INSECURE_COOKIES", "1")
    built = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ALLOW_UNSCANNED": True})
    assert (built.config["SESSION_COOKIE_SECURE"], built.config["SESSION_COOKIE_NAME"]) == (False, "ep_session")
