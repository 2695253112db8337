"""« Mot de passe oublié » (SPEC §3): the same answer, the same work and the
same time whether or not the login exists (the lookup and the e-mail run out
of the request), at most 3 reset e-mails per account per hour, and a ceiling
per network address."""
import os
import re
import uuid

import pytest
from sqlalchemy import event

from ep_web.domain.accounts import request_password_reset
from ep_web.extensions import db
from ep_web.models import AuditEvent, OutboxEmail
from ep_web.transaction import commit


def _emails():
    return db.session.scalar(db.select(db.func.count(OutboxEmail.id)))


class Recorder:
    """The SQL statements sent while it records."""

    def __init__(self):
        self.statements, self.on = [], False

    def __call__(self, conn, cursor, statement, *args):
        if self.on:
            self.statements.append(re.sub(r"\s+", " ", statement))


@pytest.fixture
def sql():
    recorder = Recorder()
    event.listen(db.engine, "before_cursor_execute", recorder)
    yield recorder
    event.remove(db.engine, "before_cursor_execute", recorder)


def _ask(client, login, sql=None):
    """POST the form; returns (response, SQL sent before the response was handed over)."""
    if sql is not None:
        sql.statements, sql.on = [], True
    resp = client.post("/mot-de-passe/oubli", data={"login": login}, environ_base={"REMOTE_ADDR": "192.0.2.8"})
    seen = list(sql.statements) if sql is not None else []
    if sql is not None:
        sql.on = False
    return resp, seen


def test_the_request_does_the_same_work_whether_the_login_exists_or_not(client, make, sql):
    w = make.world()
    _ask(client, "TWARMUP0")[0].close()  # the per-process caches (maintenance windows…) filled once
    answers = {}
    for name, login in (("login", w.technicien.login), ("e-mail", w.gestionnaire.email), ("unknown", "TNOBODY9"),
                        ("unknown e-mail", "personne@exemple.invalid")):
        before = _emails()
        resp, statements = _ask(client, login, sql)
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/connexion")
        assert _emails() == before  # nothing looked up nor written while the user waits…
        answers[name] = (resp.status_code, resp.headers["Location"], statements)
        resp.close()  # …the server closes the response: the job runs now
    assert len({repr(a) for a in answers.values()}) == 1, answers
    assert [m.to for m in db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id))] == [
        w.technicien.email, w.gestionnaire.email]
    page = client.get("/connexion").get_data(as_text=True)
    assert "Si un compte actif correspond" in page


def test_at_most_three_reset_emails_per_account_per_hour(app, make, clock):
    w = make.world()
    for _ in range(5):
        request_password_reset(w.technicien.login, ip="192.0.2.1")
        commit()
        clock.advance(minutes=5)
    assert db.session.scalar(db.select(db.func.count(OutboxEmail.id)).where(
        OutboxEmail.to == w.technicien.email)) == 3
    throttled = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "password_reset_requested")).all()
    assert [bool(e.details.get("throttled")) for e in throttled] == [False, False, False, True, True]
    clock.advance(minutes=41)  # an hour after the first
    request_password_reset(w.technicien.email, ip="192.0.2.1")
    commit()
    assert db.session.scalar(db.select(db.func.count(OutboxEmail.id)).where(
        OutboxEmail.to == w.technicien.email)) == 4


def test_one_address_cannot_flood_the_form(client, app, make):
    limit = int(app.config["RESET_ADDRESS_LIMIT"].split()[0])
    for i in range(limit):
        resp, _ = _ask(client, f"TFLOOD{i:02d}")
        assert resp.status_code == 303
        resp.close()
    resp, _ = _ask(client, "TFLOOD99")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 429 and "Trop de demandes depuis votre réseau" in body
    assert 'value="TFLOOD99"' in body  # what was typed is kept


@pytest.mark.skipif(not os.environ.get("EP_TEST_REDIS_URL"), reason="needs EP_TEST_REDIS_URL")
def test_with_redis_the_job_is_queued_for_a_worker(app, client, make):
    from workers.accounts import send_password_reset

    w = make.world()
    queue = f"ep-reset-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=os.environ["EP_TEST_REDIS_URL"], RQ_QUEUE=queue)
    from ep_web.jobs import get_queue

    try:
        resp, _ = _ask(client, w.technicien.login)
        resp.close()
        assert _emails() == 0
        (job,) = get_queue(queue).jobs
        assert job.func_name == "workers.accounts.send_password_reset"
        send_password_reset(*job.args)  # what the worker runs
        assert [m.to for m in db.session.scalars(db.select(OutboxEmail))] == [w.technicien.email]
    finally:
        get_queue(queue).empty()
