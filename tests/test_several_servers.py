"""What several web servers (or threads) doing the same thing at the same
moment must survive, and a database lost in the middle of a request
(README "Production")."""
import threading

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ep_web.domain.auth import _throttle
from ep_web.extensions import db
from ep_web.models import LoginThrottle


def test_a_session_that_cannot_close_does_not_turn_the_page_into_a_bare_500(app, other_app, monkeypatch):
    """The ROLLBACK at teardown fails when the database went away during the
    request: the page already rendered is still the answer. (Another app: the
    test's own app context would keep its session open past the request.)"""
    client = other_app({"SECRET_KEY": "test"}).test_client()
    original, calls = Session.close, []

    def close(self):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("ROLLBACK", {}, Exception("server closed the connection unexpectedly"))
        return original(self)

    monkeypatch.setattr(Session, "close", close)
    resp = client.get("/connexion")
    assert resp.status_code == 200 and "Connexion" in resp.get_data(as_text=True)
    assert calls


@pytest.mark.postgres_only
@pytest.mark.committed  # two real connections
def test_the_first_two_logins_from_one_address_at_once(app):
    """The counter row of a new address created by two requests at the same
    moment: the second waits for the first and uses its row (it used to fail
    on the unique key: a 500 on the login page)."""
    db.session.close()
    created, results = threading.Event(), {}

    def attempt(name, hold):
        with app.app_context():
            try:
                results[name] = _throttle("ip:192.0.2.10").key
                if hold:
                    created.set()
                    db.session.execute(db.text("SELECT pg_sleep(0.5)"))
                db.session.commit()
            except Exception as exc:  # reported below
                results[name] = repr(exc)
                db.session.rollback()
            finally:
                created.set()
                db.session.remove()

    first = threading.Thread(target=attempt, args=("a", True))
    first.start()
    assert created.wait(10)
    second = threading.Thread(target=attempt, args=("b", False))
    second.start()
    first.join(20)
    second.join(20)
    assert results == {"a": "ip:192.0.2.10", "b": "ip:192.0.2.10"}
    assert db.session.scalar(db.select(db.func.count()).select_from(LoginThrottle)) == 1
