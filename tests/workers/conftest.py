"""Fixtures of the background-work tests: a real SMTP server (aiosmtpd), a real
Redis with an RQ queue of our own (db 14 by default in EP_TEST_REDIS_URL; a
unique queue name per test, so parallel runs do not collide), demandes."""
import asyncio
import os
import socket
import threading
import uuid
from datetime import date
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from ep_web.extensions import db
from ep_web.models import Demande, DemandeStatus

REDIS_URL = os.environ.get("EP_TEST_REDIS_URL", "")
NO_REDIS = "EP_TEST_REDIS_URL not set (.ci/run sets it; e.g. redis://127.0.0.1:6379/14): needs a real Redis"


class Sink:
    """An SMTP server's handler that keeps what it accepts. ``hold`` makes it
    stop after receiving the data, before answering (a server that never
    replies), until ``release`` is set."""

    def __init__(self):
        self.messages = []
        self.hold = None
        self.release = threading.Event()
        self.received = threading.Event()
        self.refuse_rcpt = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt and address == self.refuse_rcpt:
            return "550 5.1.1 Mailbox unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append(msg)
        if self.hold and self.hold(msg):
            self.received.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 too late"
        return "250 OK"

    def to(self):
        return sorted(m["To"] for m in self.messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """aiosmtpd on a fixed port that can go down and come back up."""

    def __init__(self, sink):
        self.sink = sink
        self.port = free_port()
        self.controller = None

    def start(self):
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app):
    sink = Sink()
    server = SmtpServer(sink)
    server.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_TIMEOUT=5)
    sink.server = server
    yield sink
    sink.release.set()
    server.stop()


def require_redis() -> None:
    """Skip without a test Redis on a developer machine; under CI it must be there."""
    if not REDIS_URL:
        if os.environ.get("CI") == "true":
            pytest.fail(NO_REDIS)
        pytest.skip(NO_REDIS)


@pytest.fixture
def redis_queue(app):
    """A real Redis and a queue of our own; the app enqueues there."""
    require_redis()
    from redis import Redis
    from rq import Queue

    from ep_web.jobs import kick_key, mail_queue_name

    conn = Redis.from_url(REDIS_URL)
    conn.ping()
    name = f"ep-test-{uuid.uuid4().hex[:10]}"
    app.config.update(REDIS_URL=REDIS_URL, RQ_QUEUE=name, RQ_MAIL_QUEUE="")
    queue = Queue(name, connection=conn)
    queue.mail = Queue(mail_queue_name(app.config), connection=conn)
    yield queue
    for q in (queue, queue.mail):
        q.empty()
        q.delete(delete_jobs=True)
    conn.delete(kick_key(app.config))


def work(queue) -> None:
    """An RQ SimpleWorker in burst mode on the mail queue then ``queue``, as the
    workers listen: runs every job queued (and the jobs those jobs queue) in
    this process, then returns."""
    from rq import SimpleWorker

    SimpleWorker([queue.mail, queue], connection=queue.connection).work(burst=True)


_refs = iter(range(1, 10**6))


def make_demande(author, caisse, *, service="contact", status=DemandeStatus.TRANSMISE, created_at=None,
                 due_at=None, closed_at=None, urgent=False, nom="Martin-Fictif"):
    """A demande row as the demandes area writes it (fictitious person)."""
    n = next(_refs)
    d = Demande(
        reference=f"EP-TEST-{n:06d}", service=service, caisse_id=caisse.id, partenaire_id=author.partenaire_id,
        author_id=author.id, status=status, civilite="Mme", nom=nom, prenom="Camille",
        date_naissance=date(1980, 1, 1), departement="74", nom_search=f"{nom.lower()} camille",
        created_at=created_at, updated_at=created_at, due_at=due_at, closed_at=closed_at, urgent=urgent,
        details={}, message="",
    )
    db.session.add(d)
    db.session.commit()
    return d

