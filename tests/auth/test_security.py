import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from ep_web import create_app
from ep_web.config import DEV_SECRET_KEY, ConfigurationError
from ep_web.domain import audit
from ep_web.extensions import db
from ep_web.models import AuditEvent
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3y-" + "fictive-but-long-enough-for-tests-0123456789"


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
    built = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ALLOW_UNSCANNED": True},
                       environ={"EP_SECRET_KEY": STRONG_KEY})
    assert (built.config["SESSION_COOKIE_SECURE"], built.config["SESSION_COOKIE_NAME"]) == (True, "__Host-ep_session")
    monkeypatch.setenv("EP_INSECURE_COOKIES", "1")
    monkeypatch.setenv("EP_SECRET_KEY", STRONG_KEY)
    built = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ALLOW_UNSCANNED": True})
    assert (built.config["SESSION_COOKIE_SECURE"], built.config["SESSION_COOKIE_NAME"]) == (False, "ep_session")


# ---------------------------------------------------------------- the secret key (SPEC §8)

@pytest.mark.parametrize("environ, problem", [
    ({}, "is not set"),
    ({"EP_SECRET_KEY": "dev-only-change-me"}, "development value"),
    ({"EP_SECRET_KEY": "changeme-changeme"}, "too short"),
    ({"EP_SECRET_KEY": "x" * 31}, "too short"),
    ({"SECRET_KEY": "", "EP_ENV": "production"}, "is not set"),
])
def test_production_refuses_to_start_without_a_real_secret_key(environ, problem, capsys):
    with pytest.raises(ConfigurationError, match=problem):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, environ=environ)
    assert "refuses to start" in capsys.readouterr().err


def test_a_real_secret_key_or_the_quick_start_starts(capsys):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"},
                     environ={"EP_SECRET_KEY": STRONG_KEY, "EP_ALLOW_UNSCANNED": "1"})  # the antivirus: see attachments
    assert app.secret_key == STRONG_KEY
    dev = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, environ={"EP_ENV": "development"})
    assert dev.secret_key == DEV_SECRET_KEY
    assert "development secret key" in capsys.readouterr().err  # said when used
    # Development with a key of its own keeps it.
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"},
                      environ={"EP_ENV": "development", "EP_SECRET_KEY": "court"}).secret_key == "court"


def test_the_process_exits_with_a_message(tmp_path):
    """What an operator sees: `gunicorn app:app` / `flask` import app.py and stop."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_") and k not in ("SECRET_KEY",)}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "refuses to start: EP_SECRET_KEY is not set" in done.stderr
    env["EP_SECRET_KEY"] = STRONG_KEY
    env["EP_ALLOW_UNSCANNED"] = "1"  # production also refuses to start without antivirus (tests/attachments)
    assert subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env, capture_output=True,
                          timeout=60).returncode == 0
