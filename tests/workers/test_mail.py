"""The outbox: written in the caller's transaction, sent after commit — in-process
without Redis, by an RQ worker with Redis; never lost when Redis is down."""
import os
import socket
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from ep_web.domain.accounts import create_technicien
from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail
from ep_web.transaction import commit, rollback
from workers.mail import MAX_ATTEMPTS, flush_outbox, send_email

REDIS_URL = os.environ.get("EP_TEST_REDIS_URL", "")


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    yield sink
    controller.stop()


def _new_tech(w, n=1):
    return create_technicien(w.gestionnaire, {"civilite": "Mme", "nom": f"Test{n}", "prenom": "Ada",
                                              "email": f"ada{n}@{w.partenaire.domain_list[0]}"})


def test_rolled_back_change_sends_nothing(app, make, smtp):
    w = make.world()
    _new_tech(w)
    rollback()
    assert db.session.scalar(db.select(db.func.count(OutboxEmail.id))) == 0
    assert smtp.messages == []


def test_sent_by_smtp_after_commit_in_process(app, make, smtp):
    w = make.world()
    tech = _new_tech(w)
    assert smtp.messages == []  # not before the commit
    commit()
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["To"] == tech.email
    assert msg.is_multipart()  # text + HTML
    assert tech.login in msg.get_body(("plain",)).get_content()
    assert db.session.get(OutboxEmail, 1).status == EmailStatus.SENT


def test_without_smtp_the_local_outbox_folder_gets_the_message(app, make, tmp_path):
    w = make.world()
    _new_tech(w)
    commit()
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"/activation/" in files[0].read_bytes()


def test_smtp_down_keeps_it_pending_then_failed_after_last_try(app, make):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port(), SMTP_TIMEOUT=1)
    w = make.world()
    _new_tech(w)
    commit()
    email = db.session.scalars(db.select(OutboxEmail)).one()
    assert email.status == EmailStatus.PENDING and email.attempts == 1 and "Error" in email.last_error
    for _ in range(MAX_ATTEMPTS - 1):
        send_email(email.id)
    db.session.refresh(email)
    assert email.status == EmailStatus.FAILED


def test_a_sent_email_is_never_sent_twice(app, make, smtp):
    w = make.world()
    _new_tech(w)
    commit()
    assert send_email(1) is False
    assert flush_outbox() == 0
    assert len(smtp.messages) == 1


def test_redis_down_loses_nothing(app, make, smtp):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
    w = make.world()
    tech = _new_tech(w)
    commit()  # the account exists even though the job could not be queued
    assert tech.id is not None and smtp.messages == []
    assert db.session.scalars(db.select(OutboxEmail.status)).all() == [EmailStatus.PENDING]
    assert flush_outbox() == 1
    assert len(smtp.messages) == 1


@pytest.mark.skipif(not REDIS_URL, reason="EP_TEST_REDIS_URL not set (.ci/run sets it)")
def test_rq_worker_sends_after_commit(app, make, smtp):
    from redis import Redis
    from rq import Queue, SimpleWorker

    app.config["REDIS_URL"] = REDIS_URL
    conn = Redis.from_url(REDIS_URL)
    queue = Queue(app.config["RQ_QUEUE"], connection=conn)
    queue.empty()
    w = make.world()
    _new_tech(w)
    commit()
    assert queue.count == 1 and smtp.messages == []
    SimpleWorker([queue], connection=conn).work(burst=True)
    deadline = time.monotonic() + 5
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(smtp.messages) == 1
    db.session.expire_all()
    assert db.session.scalars(db.select(OutboxEmail.status)).all() == [EmailStatus.SENT]
