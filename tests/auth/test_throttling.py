"""Throttling that stops attackers without locking out users (SPEC §3):
per-account locks as the SPEC says, per-address limits that slow down and
refuse unknown logins and wrong passwords, never a right password for an
account that is not itself locked; proxies trusted only when configured."""
import re

import pytest

from ep_web.domain.auth import ADDRESS_PACED, BAD_CREDENTIALS
from ep_web.extensions import db
from ep_web.models import AccountStatus, AuditEvent
from tests.conftest import PASSWORD

OFFICE = "203.0.113.9"  # one address for a whole office behind a NAT, or every user behind a proxy
PACED = ADDRESS_PACED.split(".")[0]


def _post(client, login, password, ip=OFFICE, **headers):
    return client.post("/connexion", data={"login": login, "password": password},
                       environ_base={"REMOTE_ADDR": ip}, headers=headers)


def _message(resp) -> str:
    text = resp.get_data(as_text=True)
    return "paced" if PACED in text else "locked" if "Trop de tentatives infructueuses. " in text else \
        "bad" if BAD_CREDENTIALS in text else "ok" if resp.status_code == 302 else text[:200]


def test_a_spraying_address_never_locks_out_the_users_behind_it(client, make, app):
    """Today's bug: 20 failures from one address locked every account behind it."""
    w = make.world()
    limit = int(app.config["LOGIN_ADDRESS_LIMIT"].split()[0])
    answers = [_message(_post(client, f"TSPRAY{i:03d}", "nope")) for i in range(limit + 5)]
    slow = int(app.config["LOGIN_ADDRESS_SLOW"].split()[0])
    # Plain refusals first, then the address is slowed down, then refused.
    assert answers[:slow] == ["bad"] * slow and set(answers[slow:]) == {"paced"}
    # An unknown login and a wrong password get the same refusal (the login's existence is not told)…
    assert _message(_post(client, "TNOBODY9", "nope")) == _message(_post(client, w.agent.login, "nope")) == "paced"
    # …but every user behind the address with the right password gets in, whatever the profile.
    for account in (w.technicien, w.gestionnaire, w.agent, w.admin, w.national):
        assert _post(app.test_client(), account.login, PASSWORD).status_code == 302, account.login
    # The agent's own mistake counted towards its own lock only.
    assert _message(_post(app.test_client(), w.agent.login, PASSWORD)) == "ok"


def test_the_address_is_paced_and_tells_how_long_to_wait(client, make, app):
    app.config.update(LOGIN_ADDRESS_SLOW="3 per 15 minutes", LOGIN_ADDRESS_PACE="1 per 30 seconds")
    w = make.world()
    answers = [_message(_post(client, f"TPACE{i:02d}", "nope")) for i in range(4)]
    assert answers == ["bad", "bad", "bad", "paced"]
    seconds = int(re.search(r"réessayez dans (\d+) secondes", _post(client, "TPACE99", "x").get_data(as_text=True))[1])
    assert 1 <= seconds <= 30
    assert _post(client, w.technicien.login, PASSWORD).status_code == 302
    other_office = app.test_client()
    assert _message(_post(other_office, "TPACE98", "nope", ip="198.51.100.4")) == "bad"


def test_the_per_account_lock_stays_as_the_spec_says(client, make, app, clock):
    w = make.world()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        _post(client, w.technicien.login, "nope", ip="198.51.100.1")
    # Locked: the right password is refused, from any address, for this account only.
    assert _message(_post(app.test_client(), w.technicien.login, PASSWORD, ip="192.0.2.50")) == "locked"
    assert _post(app.test_client(), w.gestionnaire.login, PASSWORD, ip="198.51.100.1").status_code == 302
    clock.advance(minutes=app.config["LOGIN_LOCK_MINUTES"] + 1)
    assert _post(app.test_client(), w.technicien.login, PASSWORD).status_code == 302


def test_an_inactive_account_with_the_right_password_reads_like_a_wrong_password(client, make):
    p = make.partenaire(make.caisse())
    inactive = make.technicien(p, status=AccountStatus.INACTIVE)
    active = make.technicien(p)
    right = _post(client, inactive.login, PASSWORD, ip="192.0.2.1")
    wrong = _post(client, active.login, "Mauvais-Motdepasse-1!", ip="192.0.2.2")
    assert right.status_code == wrong.status_code == 422

    def page(resp, login):
        return resp.get_data(as_text=True).replace(login, "LOGIN")

    assert page(right, inactive.login) == page(wrong, active.login)
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.actor_id == inactive.id)).one()
    assert event.action == "login_failed" and event.details["why"] == "inactive"


def test_forwarded_addresses_are_trusted_only_from_configured_proxies(other_app, make):
    make.world()
    config = {"WTF_CSRF_ENABLED": False, "LOGIN_ADDRESS_SLOW": "2 per 15 minutes",
              "LOGIN_ADDRESS_PACE": "1 per 30 seconds"}
    direct = other_app(config).test_client()
    # No proxy configured: a client cannot escape its address by inventing X-Forwarded-For.
    answers = [_message(_post(direct, f"TXFF{i}", "nope", **{"X-Forwarded-For": f"10.0.0.{i}"})) for i in range(3)]
    assert answers == ["bad", "bad", "paced"]
    # One trusted proxy: every user arrives from the proxy's address, and is told apart by the header.
    behind = other_app({**config, "TRUSTED_PROXIES": 1}).test_client()
    proxy = "10.9.9.9"
    answers = [_message(_post(behind, f"TPXY{i}", "nope", ip=proxy, **{"X-Forwarded-For": "198.51.100.20"}))
               for i in range(3)]
    assert answers == ["bad", "bad", "paced"]
    other_user = _post(behind, "TPXY9", "nope", ip=proxy, **{"X-Forwarded-For": "192.0.2.33"})
    assert _message(other_user) == "bad"
    # Only the last hop, written by the proxy, counts: a spoofed first hop changes nothing.
    spoofed = _post(behind, "TPXY8", "nope", ip=proxy, **{"X-Forwarded-For": "1.2.3.4, 198.51.100.20"})
    assert _message(spoofed) == "paced"


def test_failed_logins_and_locks_reach_the_caisse_journal(client, make, login, app):
    """SPEC §7: the caisse's référent sees the attacks on its partners' accounts
    and on its agents' accounts; another caisse does not."""
    w = make.world()
    for account in (w.technicien, w.agent):
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            _post(client, account.login, "nope", ip="192.0.2.77")
    events = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action.in_(("login_failed",
                                                                                  "login_locked")))).all()
    by_actor = {(e.actor_login, e.action, e.partenaire_id, e.caisse_id) for e in events}
    assert (w.technicien.login, "login_locked", w.partenaire.id, None) in by_actor
    assert (w.agent.login, "login_locked", None, w.caisse.id) in by_actor
    referent = login(w.admin, c=app.test_client())
    journal = referent.get("/caisse/journal?evenement=login_locked").get_data(as_text=True)
    assert w.technicien.login in journal and w.agent.login in journal
    other = login(w.other_admin, c=app.test_client())
    journal = other.get("/caisse/journal?evenement=login_locked").get_data(as_text=True)
    assert w.technicien.login not in journal and w.agent.login not in journal


@pytest.mark.skipif(not __import__("os").environ.get("EP_TEST_REDIS_URL"), reason="needs EP_TEST_REDIS_URL")
def test_with_redis_every_process_shares_the_address_counters(other_app, make):
    import os
    import uuid

    make.world()
    config = {"WTF_CSRF_ENABLED": False, "RATELIMIT_STORAGE_URI": os.environ["EP_TEST_REDIS_URL"],
              "RATELIMIT_KEY_PREFIX": f"ep-test-{uuid.uuid4().hex[:8]}", "LOGIN_ADDRESS_SLOW": "2 per 15 minutes",
              "LOGIN_ADDRESS_PACE": "1 per 30 seconds"}
    one, two = other_app(config).test_client(), other_app(config).test_client()
    assert [_message(_post(c, f"TRED{i}", "nope")) for i, c in enumerate((one, two, one))] == ["bad", "bad", "paced"]
