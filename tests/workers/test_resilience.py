"""The worker and the scheduler, run as in production (``python -m
workers.worker`` / ``workers.scheduler``), against a Redis of our own that
the test kills and starts again: both processes stay up, say in their
heartbeat that they wait for Redis, and work again when it is back, without
anyone restarting them."""
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ep_web import jobs
from ep_web.domain.accounts import create_technicien
from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail, WorkerHeartbeat
from ep_web.transaction import commit
from tests.factories import alpha
from tests.servers import RedisServer, wait_until

pytestmark = pytest.mark.long  # real processes riding out real outages

ROOT = Path(__file__).resolve().parents[2]


def _new_tech(w, n):
    create_technicien(w.gestionnaire, {"civilite": "Mme", "nom": f"Test{alpha(n)}", "prenom": "Ada",
                                       "email": f"ada{n}@{w.partenaire.domain_list[0]}"})
    commit()


def _to_techniciens(smtp):
    """The techniciens' activation e-mails: the rows carry the test's frozen date
    while the processes run on the real clock, so monitoring may also e-mail a
    "pending e-mail" incident, which these tests do not count."""
    return [to for to in smtp.to() if to.startswith("ada")]


def _states():
    db.session.rollback()  # see what the other processes committed
    return {hb.name: hb.state for hb in db.session.scalars(db.select(WorkerHeartbeat))}


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.kill()


def _spawn(module, env, log):
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.mark.committed
def test_worker_and_scheduler_ride_out_a_redis_outage(app, make, smtp, redis_server, db_url, tmp_path):
    queue = f"ep-res-{uuid.uuid4().hex[:8]}"
    app.config.update(REDIS_URL=redis_server.url, RQ_QUEUE=queue, RQ_MAIL_QUEUE="")
    env = {**os.environ, "DATABASE_URL": db_url.replace("+psycopg", ""), "REDIS_URL": redis_server.url,
           "EP_RQ_QUEUE": queue, "EP_SMTP_HOST": "127.0.0.1", "EP_SMTP_PORT": str(smtp.server.port),
           "EP_MAIL_PRINT": "0", "EP_WORKER_NAME": "worker-test", "EP_SCHEDULER_NAME": "scheduler-test",
           "PYTHONPATH": str(ROOT), "EP_ENV": "test"}
    log_path = tmp_path / "processes.log"
    w = make.world()
    with open(log_path, "wb") as log:
        worker = _spawn("workers.worker", env, log)
        scheduler = _spawn("workers.scheduler", env, log)
        procs = (worker, scheduler)

        def alive():
            return all(p.poll() is None for p in procs)

        def to_techniciens():
            return _to_techniciens(smtp)

        def sent(n):
            return lambda: len(to_techniciens()) >= n or not alive()

        try:
            _new_tech(w, 1)
            wait_until(sent(1), 60, message="the first e-mail")
            assert alive(), log_path.read_text()[-3000:]
            wait_until(lambda: _states() == {"worker-test": "idle", "scheduler-test": "scheduling"}, 60,
                       message="both heartbeats")

            redis_server.kill()
            wait_until(lambda: set(_states().values()) == {"redis_unavailable"} or not alive(), 60,
                       message="both processes to notice Redis is gone")
            assert alive(), log_path.read_text()[-3000:]
            _new_tech(w, 2)  # committed while Redis is down: its e-mail waits in the outbox
            assert len(to_techniciens()) == 1

            redis_server.start()  # same port, empty: what was queued in Redis is gone
            wait_until(sent(2), 90, message="the e-mail written during the outage")
            wait_until(lambda: _states() == {"worker-test": "idle", "scheduler-test": "scheduling"}, 60,
                       message="both heartbeats back to normal")
            jobs._down_until.clear()  # this test process paused Redis after its failed kick
            _new_tech(w, 3)  # a new job after the outage
            wait_until(sent(3), 60, message="an e-mail after the outage")
            assert alive(), log_path.read_text()[-3000:]
            assert to_techniciens() == sorted(f"ada{n}@{w.partenaire.domain_list[0]}" for n in (1, 2, 3))

            def statuses():
                db.session.rollback()
                return set(db.session.scalars(db.select(OutboxEmail.status).where(OutboxEmail.to.like("ada%"))))

            # The server has the message a moment before the worker records it.
            wait_until(lambda: statuses() == {EmailStatus.SENT}, 30, message="every e-mail recorded as sent")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
    assert [p.returncode for p in procs] == [0, 0], log_path.read_text()[-3000:]
    assert _states() == {}  # a clean stop removes the heartbeat: nobody is told it went silent
    text = log_path.read_text()
    assert "Redis unreachable" in text or "could not connect to Redis" in text


def test_the_worker_rides_out_a_postgresql_outage(redis_server, smtp, tmp_path, clock):
    """A PostgreSQL of our own, stopped under a running worker: the worker
    stays up (its heartbeat says in the log that the database is gone), and
    sends the next e-mail once PostgreSQL is back, without a restart."""
    from flask_migrate import upgrade

    from ep_web import create_app
    from tests.factories import Factory
    from tests.servers import PostgresCluster

    cluster = PostgresCluster()
    worker = None
    log_path = tmp_path / "worker.log"
    try:
        cluster.init()
        cluster.start()
        url = cluster.createdb("ep")
        queue = f"ep-res-{uuid.uuid4().hex[:8]}"
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_server.url,
                          "RQ_QUEUE": queue, "RQ_MAIL_QUEUE": "", "SMTP_HOST": "127.0.0.1",
                          "SMTP_PORT": smtp.server.port, "MAIL_PRINT": False, "CLOCK": clock})
        with app.app_context():
            upgrade()
            w = Factory(clock).world()
            env = {**os.environ, "DATABASE_URL": url.replace("+psycopg", ""), "REDIS_URL": redis_server.url,
                   "EP_RQ_QUEUE": queue, "EP_SMTP_HOST": "127.0.0.1", "EP_SMTP_PORT": str(smtp.server.port),
                   "EP_MAIL_PRINT": "0", "EP_WORKER_NAME": "worker-pg", "PYTHONPATH": str(ROOT), "EP_ENV": "test"}
            with open(log_path, "wb") as log:
                worker = _spawn("workers.worker", env, log)
                _new_tech(w, 1)
                wait_until(lambda: len(_to_techniciens(smtp)) >= 1 or worker.poll() is not None, 60,
                           message="e-mail 1")

                cluster.stop()
                wait_until(lambda: "database (heartbeat) unreachable" in log_path.read_text()
                           or worker.poll() is not None, 60, message="the worker to notice")
                assert worker.poll() is None, log_path.read_text()[-3000:]

                cluster.start()
                _new_tech(w, 2)  # the app's pool reconnects by itself (pre-ping)
                wait_until(lambda: len(_to_techniciens(smtp)) >= 2 or worker.poll() is not None, 60,
                           message="e-mail 2")
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert _to_techniciens(smtp) == sorted(f"ada{n}@{w.partenaire.domain_list[0]}" for n in (1, 2))
            db.session.remove()
            db.engine.dispose()
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        cluster.destroy()
