"""Server-side sessions (SPEC §3): logout, password change, inactivation and
"fermer" end every copy of a session; each user sees and closes theirs."""
import hashlib
import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event

from ep_web.domain import lifecycle
from ep_web.domain.sessions import describe_user_agent, ip_prefix, open_sessions
from ep_web.extensions import db
from ep_web.models import Account, AuditEvent, SessionEnd, UserSession
from ep_web.transaction import commit
from tests.conftest import PASSWORD, totp_code

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")
EDGE_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0")
CHROME_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"


def _login(app, account, *, ua=FIREFOX_WINDOWS, ip="192.0.2.17"):
    c = app.test_client()
    resp = c.post("/connexion", data={"login": account.login, "password": PASSWORD},
                  headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
    if resp.headers.get("Location", "").endswith("/connexion/code"):  # an account with a second factor
        resp = c.post("/connexion/code", data={"code": totp_code(account)},
                      headers={"User-Agent": ua}, environ_base={"REMOTE_ADDR": ip})
    assert resp.status_code in (302, 303) and "/connexion" not in resp.headers["Location"]
    return c


def _copy(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    name = app.config["SESSION_COOKIE_NAME"]
    thief = app.test_client()
    thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def _logged_in(client) -> bool:
    resp = client.get("/compte/")
    return resp.status_code == 200


def test_a_copied_cookie_dies_with_logout(app, make):
    w = make.world()
    c = _login(app, w.technicien)
    thief = _copy(app, c)
    assert _logged_in(thief)  # a copy works while the session is open…
    assert c.post("/deconnexion").status_code == 303
    assert not _logged_in(thief)  # …and not a request after the logout
    row = db.session.scalars(db.select(UserSession)).one()
    assert row.end_reason == SessionEnd.LOGOUT and row.ended_at is not None


def test_the_cookie_names_a_session_not_an_account(app, make):
    """Knowing the secret key and an account id is not enough: the cookie must
    carry the token of an open session (only its hash is stored)."""
    w = make.world()
    c = _login(app, w.technicien)
    token_hash = db.session.scalars(db.select(UserSession.token_hash)).one()
    serializer = URLSafeTimedSerializer(app.secret_key, salt="cookie-session", signer_kwargs={
        "key_derivation": "hmac", "digest_method": hashlib.sha1})
    name = app.config["SESSION_COOKIE_NAME"]
    assert serializer.loads(c.get_cookie(name).value)["_user_id"] != token_hash
    for forged_id in (str(w.national.id), f"{w.national.id}:", token_hash, w.national.login):
        forger = app.test_client()
        forger.set_cookie(name, serializer.dumps({"_user_id": forged_id, "_fresh": True}))
        assert not _logged_in(forger), forged_id


def test_password_change_ends_the_other_sessions_only(app, make):
    w = make.world()
    here, elsewhere = _login(app, w.technicien), _login(app, w.technicien, ua=SAFARI_IPHONE)
    copy = _copy(app, elsewhere)
    resp = here.post("/mot-de-passe", data={"current": PASSWORD, "password": "Rq7!vLm#T9wz",
                                            "confirm": "Rq7!vLm#T9wz"})
    assert resp.status_code == 303
    assert _logged_in(here) and not _logged_in(elsewhere) and not _logged_in(copy)
    reasons = sorted(r for r in db.session.scalars(db.select(UserSession.end_reason)))
    assert reasons == ["", SessionEnd.PASSWORD]


def test_every_inactivation_path_ends_the_rows(app, make, clock):
    """The set-based rule (nightly or interactive) ends the sessions in the same UPDATE pass."""
    w = make.world()
    c = _login(app, w.technicien)
    copy = _copy(app, c)
    done = lifecycle.inactivate_where(Account.id == w.technicien.id, actor=None, reason="test")
    commit()
    assert [r.id for r in done.accounts] == [w.technicien.id]
    row = db.session.scalars(db.select(UserSession)).one()
    assert row.end_reason == SessionEnd.INACTIVATED and row.ended_at == clock.now()
    assert not _logged_in(c) and not _logged_in(copy)


def test_suspending_a_partner_ends_its_sessions(app, make):
    from ep_web.domain.partenaires import suspend

    w = make.world()
    c = _login(app, w.technicien)
    agent = _login(app, w.agent)
    suspend(w.admin, w.partenaire, "usage frauduleux")
    commit()
    assert open_sessions(w.technicien) == [] and len(open_sessions(w.agent)) == 1
    assert not _logged_in(c) and _logged_in(agent)


def test_my_sessions_page_lists_them_readably(app, make, clock):
    w = make.world()
    first = _login(app, w.gestionnaire, ua=FIREFOX_WINDOWS, ip="192.0.2.17")
    clock.advance(minutes=5)
    _login(app, w.gestionnaire, ua=SAFARI_IPHONE, ip="2001:db8:12:34::99")
    _login(app, w.technicien)  # someone else's: not listed
    home = first.get("/compte/").get_data(as_text=True)
    assert "Mes sessions" in home and "2 sessions ouvertes" in home
    page = first.get("/compte/sessions").get_data(as_text=True)
    rows = re.findall(r'<tr data-testid="session-(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    newest, oldest = rows[0][1], rows[1][1]
    assert "Safari sur iOS" in newest and "2001:db8:12::/48" in newest and "Cette session" not in newest
    assert "Firefox sur Windows" in oldest and "192.0.2.0/24" in oldest and "Cette session" in oldest
    assert "192.0.2.17" not in page and "::99" not in page  # never the whole address
    assert "Fermer toutes les autres sessions" in page


@pytest.mark.parametrize("profile", ["technicien", "gestionnaire", "agent", "admin", "national"])
def test_every_profile_reaches_its_sessions_from_mon_compte(app, make, profile):
    w = make.world()
    c = _login(app, getattr(w, profile))
    assert 'href="/compte/"' in c.get("/compte/sessions").get_data(as_text=True)
    assert 'href="/compte/sessions"' in c.get("/compte/").get_data(as_text=True)


def test_close_one_session_then_all_the_others(app, make):
    w = make.world()
    here = _login(app, w.agent)
    phone, tablet = _login(app, w.agent, ua=SAFARI_IPHONE), _login(app, w.agent, ua=CHROME_LINUX)
    phone_copy = _copy(app, phone)
    phone_id, tablet_id, here_id = _ids(w.agent)
    resp = here.post(f"/compte/sessions/{phone_id}/fermer")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/compte/sessions")
    assert "La session est fermée" in here.get("/compte/sessions").get_data(as_text=True)
    assert not _logged_in(phone) and not _logged_in(phone_copy) and _logged_in(tablet)
    # Closing the one in use is « Se déconnecter », not this button.
    resp = here.post(f"/compte/sessions/{here_id}/fermer")
    assert resp.status_code == 422 and "Se déconnecter" in resp.get_data(as_text=True)
    resp = here.post("/compte/sessions/fermer-les-autres")
    assert resp.status_code == 303
    assert "Votre autre session est fermée" in here.get("/compte/sessions").get_data(as_text=True)
    assert not _logged_in(tablet) and _logged_in(here)
    assert [r.id for r in open_sessions(w.agent)] == [here_id]
    assert db.session.get(UserSession, tablet_id).end_reason == SessionEnd.CLOSED
    closed = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "session_closed")).all()
    assert [e.details["sessions"] for e in closed] == [1, 1] and {e.caisse_id for e in closed} == {w.caisse.id}


def _ids(account):
    rows = db.session.scalars(db.select(UserSession).where(UserSession.account_id == account.id)
                              .order_by(UserSession.id)).all()
    here, phone, tablet = rows
    return phone.id, tablet.id, here.id


def test_nobody_closes_someone_elses_session(app, make):
    w = make.world()
    victim = _login(app, w.other_technicien)
    (victim_row,) = open_sessions(w.other_technicien)
    attacker = _login(app, w.technicien)
    assert attacker.post(f"/compte/sessions/{victim_row.id}/fermer").status_code == 404
    assert attacker.post("/compte/sessions/fermer-les-autres").status_code == 303
    assert _logged_in(victim)


def test_last_seen_is_written_at_most_once_a_minute(app, make, clock):
    w = make.world()
    c = _login(app, w.technicien)
    (row,) = open_sessions(w.technicien)
    started = row.last_seen_at
    updates = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE USER_SESSION"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        clock.advance(seconds=30)
        assert _logged_in(c) and _logged_in(c)
        assert updates == []
        clock.advance(seconds=31)
        assert _logged_in(c) and _logged_in(c)
        assert len(updates) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.expire_all()
    assert db.session.get(UserSession, row.id).last_seen_at == started + timedelta(seconds=61)


def test_idle_timeout_ends_the_row(app, make, clock):
    w = make.world()
    c = _login(app, w.technicien)
    clock.advance(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    assert not _logged_in(c)
    assert db.session.scalars(db.select(UserSession.end_reason)).one() == SessionEnd.IDLE


@pytest.mark.parametrize("ua, expected", [
    (FIREFOX_WINDOWS, "Firefox sur Windows"), (SAFARI_IPHONE, "Safari sur iOS"), (EDGE_WINDOWS, "Edge sur Windows"),
    (CHROME_LINUX, "Chrome sur Linux"), ("", "Navigateur inconnu"), ("curl/8.5.0", "Navigateur inconnu"),
])
def test_browser_names(ua, expected):
    assert describe_user_agent(ua) == expected


@pytest.mark.parametrize("ip, expected", [
    ("192.0.2.17", "192.0.2.0/24"), ("2001:db8:12:34::99", "2001:db8:12::/48"), ("::ffff:198.51.100.7",
                                                                                 "198.51.100.0/24"),
    ("", ""), ("pas une adresse", ""),
])
def test_ip_prefix(ip, expected):
    assert ip_prefix(ip) == expected


def test_abandoned_sessions_leave_the_list_and_old_rows_go(app, make, clock):
    w = make.world()
    _login(app, w.technicien, ua=SAFARI_IPHONE)  # a browser that never comes back
    clock.advance(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    here = _login(app, w.technicien)
    page = here.get("/compte/sessions").get_data(as_text=True)
    assert "Safari sur iOS" not in page and "Fermer toutes les autres sessions" not in page
    reasons = db.session.scalars(db.select(UserSession.end_reason).order_by(UserSession.id)).all()
    assert reasons == [SessionEnd.IDLE, ""]  # the abandoned one was ended at this login
    here.post("/deconnexion")
    clock.advance(days=91)
    _login(app, w.technicien)
    assert db.session.scalar(db.select(db.func.count(UserSession.id))) == 1  # the 90-day-old rows are gone


def test_loading_the_user_is_one_query(app, make):
    """Every request loads its user through its session: one SELECT joining the account."""
    from ep_web.domain.sessions import load, open_session

    w = make.world()
    token, login = open_session(w.technicien), w.technicien.login
    commit()
    db.session.expunge_all()
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):  # the test's isolation
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        account, row = load(token)
        assert account.login == login and account.partenaire.name and row.ended_at is None
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "JOIN account" in statements[0], statements


def test_keepalive_extends_the_session_and_the_bell_poll_does_not(app, make, clock):
    """SPEC §3/§8: « Rester connecté » (and typing, which posts the same
    keep-alive) counts as activity; the header's bell, polled every minute by
    an open tab, does not: a tab left open still idles out."""
    idle = app.config["SESSION_IDLE_MINUTES"]
    w = make.world()
    c = _login(app, w.technicien)
    page = c.get("/compte/").get_data(as_text=True)
    assert f'data-idle-left="{idle * 60}"' in page
    clock.advance(minutes=idle - 1)
    assert c.get("/notifications/compteur?vu=0", headers={"HX-Request": "true"}).status_code == 204
    resp = c.post("/compte/session/prolonger")
    assert resp.status_code == 204
    clock.advance(minutes=2)  # past the timeout counted from the login
    assert c.get("/notifications/compteur?vu=0", headers={"HX-Request": "true"}).status_code == 204
    assert _logged_in(c)  # thanks to the keep-alive: the login was idle + 1 minutes ago

    clock.advance(minutes=idle - 1)
    for _ in range(3):  # polls do not keep the session alive
        clock.advance(seconds=30)
        c.get("/notifications/compteur?vu=0", headers={"HX-Request": "true"})
    row = db.session.scalars(db.select(UserSession)).one()
    assert row.end_reason == SessionEnd.IDLE
    # Once over, a poll says so without sending the page to the login form (what is typed stays).
    resp = c.get("/notifications/compteur?vu=0", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.headers["X-EP-Session"] == "ended" and "HX-Redirect" not in resp.headers
    assert not _logged_in(c)


def test_keepalive_after_the_timeout_is_refused(app, make, clock):
    """The modal's button cannot revive an ended session: the answer is the
    login page (the JS shows « Votre session a expiré »)."""
    w = make.world()
    c = _login(app, w.technicien)
    clock.advance(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    resp = c.post("/compte/session/prolonger")
    assert resp.status_code in (302, 303) and "/connexion" in resp.headers["Location"]
    assert not _logged_in(c)
