"""E-mails claimed by a process that died on this host (a worker or its work
horse SIGKILLed) are recovered at the next monitoring check, a minute at most,
instead of after the claim timeout (workers.mail): never started → pending
and sent; started → "envoi interrompu", never resent automatically."""
import os
import socket
import subprocess

from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail
from workers.mail import INTERRUPTED, claim, claimer, recover_dead_claims
from workers.monitor import check_health


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _claimed(by: str, started: bool, clock, n: int = 1) -> list[int]:
    rows = [OutboxEmail(to=f"destinataire{i}@structure.example", subject="Votre demande", body_text="Lien",
                        template="demande_update", status=EmailStatus.SENDING, attempts=1,
                        claimed_at=clock.now(), claimed_by=by,
                        send_started_at=clock.now() if started else None, created_at=clock.now())
            for i in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _statuses(ids):
    db.session.expire_all()
    return [db.session.get(OutboxEmail, i).status for i in ids]


def test_a_claim_names_its_process(app, clock):
    email = OutboxEmail(to="a@structure.example", subject="S", body_text="B", created_at=clock.now())
    db.session.add(email)
    db.session.commit()
    assert claim(10) == [email.id]
    db.session.expire_all()
    assert db.session.get(OutboxEmail, email.id).claimed_by == f"{socket.gethostname()}:{os.getpid()}"
    assert claimer() == db.session.get(OutboxEmail, email.id).claimed_by


def test_claims_of_a_dead_process_of_this_host_are_recovered_at_once(app, clock):
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    waiting = _claimed(dead, started=False, clock=clock, n=2)
    in_flight = _claimed(dead, started=True, clock=clock)
    alive = _claimed(claimer(), started=False, clock=clock)  # this process: alive
    elsewhere = _claimed(f"another-host.example:{_dead_pid()}", started=False, clock=clock)  # cannot be checked
    assert recover_dead_claims() == {"released": 2, "interrupted": 1}
    db.session.commit()
    assert _statuses(waiting) == [EmailStatus.PENDING] * 2
    assert [db.session.get(OutboxEmail, i).attempts for i in waiting] == [0, 0]  # no try spent
    assert _statuses(in_flight) == [EmailStatus.FAILED]
    assert db.session.get(OutboxEmail, in_flight[0]).last_error == INTERRUPTED
    assert _statuses(alive + elsewhere) == [EmailStatus.SENDING] * 2
    assert recover_dead_claims() == {"released": 0, "interrupted": 0}


def test_the_monitoring_check_recovers_them_and_sends_what_was_never_started(app, clock, smtp):
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    waiting = _claimed(dead, started=False, clock=clock, n=3)
    in_flight = _claimed(dead, started=True, clock=clock)
    check_health()
    assert _statuses(waiting) == [EmailStatus.SENT] * 3  # without Redis: the flush runs in-process
    assert _statuses(in_flight) == [EmailStatus.FAILED]
    assert sorted(smtp.to()) == [f"destinataire{i}@structure.example" for i in range(3)]
