"""The outbox: written in the caller's transaction, sent after commit — in-process
without Redis, by an RQ worker with Redis; never lost when Redis or SMTP is
down; retried with backoff; sent at most once, even when a worker dies."""
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ep_web.domain.accounts import create_technicien
from ep_web.domain.notifications import preferences, set_preferences
from ep_web.extensions import db
from ep_web.models import EmailStatus, JobRun, OutboxEmail
from ep_web.transaction import commit, rollback
from tests.factories import alpha
from tests.workers.conftest import REDIS_URL, free_port, work
from workers.mail import (
    CLAIM_TIMEOUT,
    INTERRUPTED,
    MAX_ATTEMPTS,
    backoff,
    flush_outbox,
    send_email,
    send_pending,
)

ROOT = Path(__file__).resolve().parents[2]


def _new_tech(w, n=1):
    # One e-mail per technicien created (its activation): the structure's other
    # gestionnaire chose not to get account events by e-mail (SPEC §6 preferences).
    kinds = {k.value: "immediate" for k in preferences(w.gestionnaire2)}
    set_preferences(w.gestionnaire2, {**kinds, "account": "never"})
    return create_technicien(w.gestionnaire, {"civilite": "Mme", "nom": f"Test{alpha(n)}", "prenom": "Ada",
                                              "email": f"ada{n}@{w.partenaire.domain_list[0]}"})


def _ids():
    return db.session.scalars(db.select(OutboxEmail.id).order_by(OutboxEmail.id)).all()


def _statuses():
    db.session.expire_all()
    return db.session.scalars(db.select(OutboxEmail.status).order_by(OutboxEmail.id)).all()


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
    assert "é" in msg.get_body(("plain",)).get_content()  # UTF-8 survives the SMTP dialogue
    assert _statuses() == [EmailStatus.SENT]


def test_without_smtp_the_local_outbox_folder_gets_the_message(app, make, tmp_path):
    w = make.world()
    _new_tech(w)
    commit()
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"/activation/" in files[0].read_bytes()


def test_backoff_grows_then_caps():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 5, 25, 125)]
    assert backoff(5) == backoff(7) == timedelta(hours=6)


def test_smtp_down_retries_with_backoff_then_fails_after_the_last_try(app, make, clock):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=1)
    w = make.world()
    _new_tech(w)
    commit()
    email = db.session.scalars(db.select(OutboxEmail)).one()
    assert email.status == EmailStatus.PENDING and email.attempts == 1 and "Error" in email.last_error
    assert email.next_attempt_at == clock.now() + timedelta(minutes=1)
    # Not before its time: neither the RQ job nor the flush touches it.
    assert send_email(email.id) is False
    assert send_pending()["sent"] == 0
    db.session.refresh(email)
    assert email.attempts == 1
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(seconds=backoff(attempt - 1).total_seconds())
        assert send_pending() == {"sent": 0, "not_sent": 1, "interrupted": 0}
        db.session.refresh(email)
        assert email.attempts == attempt
    assert email.status == EmailStatus.FAILED
    clock.advance(days=2)
    assert send_pending()["not_sent"] == 0  # failed: never tried again by itself


def test_smtp_down_then_up_is_delivered_once_by_the_flush(app, make, clock, smtp):
    smtp.server.stop()  # the SMTP server is down when the request commits
    w = make.world()
    _new_tech(w)
    commit()
    assert _statuses() == [EmailStatus.PENDING]
    smtp.server.start()  # back up, same port
    assert flush_outbox()["sent"] == 0  # backoff not elapsed yet
    clock.advance(minutes=1)
    assert flush_outbox() == {"sent": 1, "not_sent": 0, "interrupted": 0}
    clock.advance(days=1)
    assert flush_outbox()["sent"] == 0
    assert smtp.to() == [f"ada1@{w.partenaire.domain_list[0]}"]
    assert _statuses() == [EmailStatus.SENT]
    run = db.session.scalars(db.select(JobRun).where(JobRun.name == "flush_outbox").order_by(JobRun.id)).all()[1]
    assert run.status == "ok" and run.counts == {"sent": 1, "not_sent": 0, "interrupted": 0}


def test_permanent_refusal_fails_at_once(app, make, smtp):
    w = make.world()
    smtp.refuse_rcpt = f"ada1@{w.partenaire.domain_list[0]}"
    _new_tech(w)
    commit()
    email = db.session.scalars(db.select(OutboxEmail)).one()
    assert email.status == EmailStatus.FAILED and email.attempts == 1 and "550" in email.last_error


def test_no_answer_after_the_data_is_uncertain_and_never_resent(app, make, clock, smtp):
    """The server got the message but its answer never came (timeout): it may
    be delivered, so it is failed for a person to check, not retried."""
    app.config["SMTP_TIMEOUT"] = 1
    smtp.hold = lambda msg: True
    w = make.world()
    _new_tech(w)
    commit()
    smtp.release.set()
    email = db.session.scalars(db.select(OutboxEmail)).one()
    assert email.status == EmailStatus.FAILED and "incertain" in email.last_error
    clock.advance(days=1)
    assert flush_outbox()["sent"] == 0
    assert len(smtp.messages) == 1


def test_a_sent_email_is_never_sent_twice(app, make, smtp):
    w = make.world()
    _new_tech(w)
    commit()
    [sent] = _ids()
    assert send_email(sent) is False
    assert flush_outbox()["sent"] == 0
    assert len(smtp.messages) == 1


def test_redis_down_loses_nothing(app, make, smtp):
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    w = make.world()
    tech = _new_tech(w)
    commit()  # the account exists even though the job could not be queued
    assert tech.id is not None and smtp.messages == []
    assert _statuses() == [EmailStatus.PENDING]
    assert flush_outbox()["sent"] == 1
    assert len(smtp.messages) == 1


def test_the_flush_drains_a_backlog_batch_after_batch(app, make, smtp, monkeypatch):
    import workers.mail as mail

    monkeypatch.setattr(mail, "FLUSH_BATCH", 2)
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # a backlog piles up while Redis is down
    w = make.world()
    for n in range(1, 6):
        _new_tech(w, n)
    commit()
    assert flush_outbox() == {"sent": 5, "not_sent": 0, "interrupted": 0}
    assert len(smtp.messages) == 5 and _statuses() == [EmailStatus.SENT] * 5


def test_crash_between_claim_and_send_is_never_resent(app, make, clock, smtp, monkeypatch):
    """A worker dies after claiming (pending → sending) and maybe after SMTP
    accepted: nobody can tell, so the row is failed for review after the claim
    timeout, never sent again by the flush."""
    import workers.mail as mail

    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing sent at commit
    w = make.world()
    _new_tech(w, 1)
    _new_tech(w, 2)
    commit()

    class WorkerKilled(BaseException):
        pass

    def die(self, email):
        raise WorkerKilled  # not an Exception: nothing of send_email's handling runs

    monkeypatch.setattr(mail.Transport, "send", die)
    first = _ids()[0]
    with pytest.raises(WorkerKilled):
        send_email(first)
    db.session.rollback()
    monkeypatch.undo()
    assert _statuses() == [EmailStatus.SENDING, EmailStatus.PENDING]
    assert flush_outbox() == {"sent": 1, "not_sent": 0, "interrupted": 0}  # the rerun finishes the rest
    clock.advance(seconds=CLAIM_TIMEOUT.total_seconds() - 1)
    assert flush_outbox()["interrupted"] == 0  # a slow live worker keeps its claim
    clock.advance(seconds=2)
    assert flush_outbox() == {"sent": 0, "not_sent": 0, "interrupted": 1}
    assert _statuses() == [EmailStatus.FAILED, EmailStatus.SENT]
    assert db.session.get(OutboxEmail, first).last_error == INTERRUPTED
    assert smtp.to() == [f"ada2@{w.partenaire.domain_list[0]}"]


def test_rq_worker_sends_after_commit(app, make, smtp, redis_queue):
    w = make.world()
    _new_tech(w)
    commit()
    assert redis_queue.mail.count == 1 and redis_queue.count == 0 and smtp.messages == []
    work(redis_queue)
    assert len(smtp.messages) == 1
    assert _statuses() == [EmailStatus.SENT]
    work(redis_queue)  # nothing left, nothing resent
    assert len(smtp.messages) == 1


@pytest.mark.committed  # the rq worker is another process
def test_killed_rq_worker_in_the_middle_of_a_flush(app, make, clock, smtp, redis_queue, db_url, tmp_path):
    """A real ``rq worker`` process is killed (SIGKILL) while it sends the second
    of three e-mails it claimed together, on another machine (its claims name
    another host): nobody here can tell at once that the worker is dead, so
    its claims are left alone until CLAIM_TIMEOUT; then the third (never
    started) goes back to pending and is sent, and the second is never sent
    again (it may have arrived: the server had its data), it is failed for
    review. (A process of this host is seen dead at once: test_dead_claims.)"""
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # Redis "down" at commit: all pending
    w = make.world()
    for n in (1, 2, 3):
        _new_tech(w, n)
    commit()
    app.config["REDIS_URL"] = REDIS_URL
    second = f"ada2@{w.partenaire.domain_list[0]}"
    smtp.hold = lambda msg: msg["To"] == second
    redis_queue.enqueue("workers.mail.flush_outbox")
    env = {**os.environ, "DATABASE_URL": db_url.replace("+psycopg", ""), "REDIS_URL": REDIS_URL,
           "EP_SMTP_HOST": "127.0.0.1", "EP_SMTP_PORT": str(smtp.server.port), "EP_SMTP_TIMEOUT": "30",
           "EP_RQ_QUEUE": redis_queue.name, "EP_MAIL_PRINT": "0", "PYTHONPATH": str(ROOT),
           "EP_ENV": "test",
           "EP_MAIL_CHUNK": "1"}  # each message marked started on its own (see the chunked test below)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--worker-class", "rq.SimpleWorker",
         "--url", REDIS_URL, redis_queue.name],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        assert smtp.received.wait(60), proc.stderr.read().decode()[-3000:] if proc.poll() is not None else "no data"
        # SIGKILL: no cleanup at all. (A forking worker's work horse runs in a
        # session of its own: SimpleWorker runs the job in the killed process.)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    smtp.release.set()
    assert _statuses() == [EmailStatus.SENT, EmailStatus.SENDING, EmailStatus.SENDING]
    db.session.execute(db.update(OutboxEmail).where(OutboxEmail.status == EmailStatus.SENDING)
                       .values(claimed_by="another-host.example:4242"))
    db.session.commit()
    # The next periodic flush (here on a burst worker) leaves a live-looking claim alone...
    clock.at = datetime.now(timezone.utc)  # the killed worker used the real clock
    redis_queue.enqueue("workers.mail.flush_outbox")
    work(redis_queue)
    assert _statuses() == [EmailStatus.SENT, EmailStatus.SENDING, EmailStatus.SENDING]
    # ... and once the claim is too old for a live worker, finishes the work.
    clock.advance(seconds=CLAIM_TIMEOUT.total_seconds() + 1)
    assert flush_outbox() == {"sent": 1, "not_sent": 0, "interrupted": 1}
    assert _statuses() == [EmailStatus.SENT, EmailStatus.FAILED, EmailStatus.SENT]
    assert db.session.get(OutboxEmail, _ids()[2]).attempts == 1  # the claim that never started cost no try
    assert sorted(smtp.to()) == sorted(f"ada{n}@{w.partenaire.domain_list[0]}" for n in (1, 2, 3))


def test_a_crash_in_a_chunk_leaves_the_chunk_to_check_and_the_rest_pending(app, make, clock, smtp, monkeypatch):
    """Results are committed by chunks: a worker that dies in the middle of
    one leaves that chunk "envoi interrompu" (maybe sent: never resent), and
    the chunks it never started go back to pending (certainly not sent)."""
    import workers.mail as mail

    app.config.update(MAIL_CHUNK=2, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing sent at commit
    # Chunks of MAIL_CHUNK messages only: on a loaded machine CHUNK_S (half a
    # second) could close a chunk early, and the statuses below would shift.
    monkeypatch.setattr(mail, "CHUNK_S", 3600)
    w = make.world()
    for n in range(1, 6):
        _new_tech(w, n)
    commit()

    class WorkerKilled(BaseException):
        pass

    real_send = mail.Transport.send
    calls = []

    def send_then_die(self, email):
        calls.append(email.id)
        if len(calls) == 4:
            raise WorkerKilled
        real_send(self, email)

    monkeypatch.setattr(mail.Transport, "send", send_then_die)
    with pytest.raises(WorkerKilled):
        send_pending()
    db.session.rollback()
    monkeypatch.undo()
    # 1, 2: committed as sent with the start of the chunk 3-4; 3 left, 4 in flight; 5 never started.
    assert _statuses() == [EmailStatus.SENT] * 2 + [EmailStatus.SENDING] * 3
    clock.advance(seconds=CLAIM_TIMEOUT.total_seconds() + 1)
    assert flush_outbox() == {"sent": 1, "not_sent": 0, "interrupted": 2}
    assert _statuses() == [EmailStatus.SENT] * 2 + [EmailStatus.FAILED] * 2 + [EmailStatus.SENT]
    assert sorted(smtp.to()) == sorted(f"ada{n}@{w.partenaire.domain_list[0]}" for n in (1, 2, 3, 5))


def test_a_retry_is_scheduled_on_the_mail_queue_ahead_of_other_work(app, make, clock, smtp, redis_queue):
    """SMTP is down when the drain runs: the e-mail goes back to pending with
    its backoff, and a drain job is scheduled on the mail queue for that time
    (RQ's scheduler, run by the workers, queues it then): the retry neither
    waits for the periodic flush nor behind the jobs of the other queue."""
    smtp.server.stop()
    w = make.world()
    _new_tech(w)
    commit()
    work(redis_queue)
    email = db.session.scalars(db.select(OutboxEmail)).one()
    assert email.status == EmailStatus.PENDING and email.attempts == 1
    registry = redis_queue.mail.scheduled_job_registry
    (job_id,) = registry.get_job_ids()
    delay = (registry.get_scheduled_time(job_id) - datetime.now(timezone.utc)).total_seconds()
    assert 50 <= delay <= 61  # the first backoff is a minute
    job = redis_queue.mail.fetch_job(job_id)
    assert job.func_name == "workers.mail.drain"

    smtp.server.start()
    clock.advance(minutes=1)
    redis_queue.enqueue("workers.periodic.nightly_sweep")  # unrelated work, queued first
    registry.remove(job)
    redis_queue.mail.enqueue_job(job)  # what RQ's scheduler does when the time comes
    from rq import SimpleWorker

    SimpleWorker([redis_queue.mail, redis_queue], connection=redis_queue.connection).work(burst=True, max_jobs=1)
    assert _statuses() == [EmailStatus.SENT] and redis_queue.count == 1  # the sweep still waits
