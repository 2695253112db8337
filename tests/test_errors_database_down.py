"""When the database is gone, users get a French page (503, with each
caisse's "autre canal" from the cache), never gunicorn's bare English error;
the 500 page never needs the database either; a form that could not be
saved says how to get its input back. First with an engine pointed at a
closed port, then with a real PostgreSQL of our own that we stop and start."""
import re
from html import unescape

import pytest
from flask_migrate import upgrade

from ep_web import availability, create_app
from ep_web.errors.handlers import LOST_INPUT
from ep_web.extensions import db
from tests.conftest import PASSWORD
from tests.servers import PostgresCluster, free_port

CONFIG = {"TESTING": True, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "test", "REDIS_URL": "", "SMTP_HOST": "",
          "MAIL_PRINT": False, "EP_INSECURE_COOKIES": True, "DB_CONNECT_TIMEOUT": 2}


@pytest.fixture(autouse=True)
def _no_channel_cache():
    availability.forget()
    yield
    availability.forget()


def _text(resp) -> str:
    return unescape(resp.get_data(as_text=True))


def _assert_bare_503(resp):
    html = _text(resp)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "60"
    assert "Service momentanément indisponible" in html and "La base de données du portail ne répond pas" in html
    # The full page, not the fallback.
    assert 'lang="fr"' in html and "fr-header" in html and re.search(r"dsfr\.min\.[0-9a-f]{12}\.css", html)
    assert "Internal Server Error" not in html
    return html


@pytest.mark.committed
def test_engine_on_a_closed_port(app, make, tmp_path, monkeypatch):
    make.caisse(name="CPAM de la Haute-Savoie", autre_canal="Téléphone 36 46\nAccueil : 2 rue Fictive")
    # The copy in an instance folder of this test's own: the other test processes share the
    # default one, and their requests rewrite it with their own caisses.
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    availability.refresh(app)  # an ordinary request would have done it (after_request)
    broken = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"})
    broken.instance_path = str(tmp_path)
    client = broken.test_client()

    html = _assert_bare_503(client.get("/"))
    assert "CPAM de la Haute-Savoie" in html and "Téléphone 36 46<br>Accueil : 2 rue Fictive" in html
    assert LOST_INPUT not in html  # a GET lost nothing

    html = _assert_bare_503(client.post("/connexion", data={"login": "TDEMO001", "password": "x"}))
    assert LOST_INPUT in html
    assert LOST_INPUT == "Votre saisie n'a pas été enregistrée : revenez à la page précédente pour la retrouver."

    resp = client.post("/connexion", data={"login": "x"}, headers={"HX-Request": "true"})
    assert resp.status_code == 503 and "<html" not in _text(resp)  # the alert only, for #flash
    assert LOST_INPUT in _text(resp)

    # A process started during the outage has the copy written in the instance folder.
    availability.forget()
    assert "CPAM de la Haute-Savoie" in _text(client.get("/"))

    resp = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status_code == 403 and "Accès refusé" in _text(resp)  # a 4xx page too, without the database
    assert client.get("/healthz").status_code == 200
    readyz = client.get("/readyz")
    assert readyz.status_code == 503 and readyz.get_json()["checks"]["database"] == "OperationalError"


def test_the_500_page_needs_no_database(app, make, login, client, monkeypatch):
    w = make.world()

    def _boom():
        raise RuntimeError("bug")

    # The app is shared by the session's tests: an existing POST route fails for this test only.
    monkeypatch.setitem(app.view_functions, "tickets.create", _boom)

    login(w.technicien)
    queries = []
    from sqlalchemy import event

    def count(*args):
        queries.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.post("/tickets/nouveau", data={"message": "un texte saisi"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    html = _text(resp)
    assert resp.status_code == 500 and "Erreur du service" in html and LOST_INPUT in html
    assert w.technicien.full_name not in html  # the user is not loaded again for the page
    # Only the request's own reads ran before the error: the user, the CGU version and maintenance
    # token, the maintenance windows when this process's copy is older than the token (then a rollback).
    assert not any("caisse" in q.lower() and "autre_canal" in q.lower() for q in queries)
    assert len(queries) <= 4


@pytest.fixture(scope="module")
def own_postgres():
    cluster = PostgresCluster()
    try:
        cluster.init()
        cluster.start()
        url = cluster.createdb("ep")
        app = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield cluster, url
    finally:
        cluster.destroy()


@pytest.mark.one_pass("postgresql")  # a cluster of its own: no need of the SQLite pass
def test_a_real_postgresql_stopped_then_started(own_postgres, clock):
    from tests.factories import Factory

    cluster, url = own_postgres
    app = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock})
    with app.app_context():
        w = Factory(clock).world()
        name, login = w.technicien.full_name, w.technicien.login
        client = app.test_client()
        assert client.post("/connexion", data={"login": login, "password": PASSWORD}).status_code == 302
        assert name in client.get("/demandes/nouvelle").get_data(as_text=True)  # also fills the channel cache
        db.session.remove()

        cluster.stop()
        html = _assert_bare_503(client.get("/demandes/nouvelle"))
        assert name not in html  # no user, no menu: nothing that needs the database
        assert w.caisse.name in html  # the caisses' autre canal, from the cache
        html = _assert_bare_503(client.post("/demandes/nouvelle", data={"nom": "Fictif", "prenom": "Camille"}))
        assert LOST_INPUT in html

        cluster.start()
        resp = client.get("/demandes/nouvelle")  # the pool reconnects by itself; the session cookie still holds
        assert resp.status_code == 200 and name in resp.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()


def test_a_restart_between_two_requests_costs_the_next_request_nothing(own_postgres, clock):
    """No pool_pre_ping (no "SELECT 1" before each request): the pooled
    connections a restart left dead are told by their sockets at checkout,
    and the first request after the restart gets a fresh one — a 200, not
    the 503 page."""
    from sqlalchemy import event

    from tests.factories import Factory

    cluster, url = own_postgres
    app = create_app({**CONFIG, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock})
    with app.app_context():
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is False
        w = Factory(clock).world()
        name, login = w.technicien.full_name, w.technicien.login
        client = app.test_client()
        assert client.post("/connexion", data={"login": login, "password": PASSWORD}).status_code == 302
        db.session.remove()
        statements = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *a: statements.append(statement))
        assert name in client.get("/demandes/nouvelle").get_data(as_text=True)
        assert not any(s.strip().upper() == "SELECT 1" for s in statements)  # no ping
        db.session.remove()

        cluster.stop()
        cluster.start()
        resp = client.get("/demandes/nouvelle")
        assert resp.status_code == 200 and name in resp.get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()
