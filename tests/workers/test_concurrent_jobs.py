"""Periodic jobs when two schedulers or several workers run them at once
(README "Production"): one run of a job at a time, on PostgreSQL's advisory
locks; the other run is skipped and the work is done once."""
import threading
from datetime import timedelta

import pytest

from ep_web.extensions import db
from ep_web.models import JobRun, OutboxEmail
from tests.workers.conftest import make_demande
from workers import journal, periodic
from workers.demandes import alert_signalements

pytestmark = [pytest.mark.postgres_only, pytest.mark.committed]  # each thread its own connection


def _in_thread(app, fn, results, key):
    def target():
        with app.app_context():
            try:
                results[key] = fn()
            except Exception as exc:  # reported by the assertions
                results[key] = repr(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_a_second_run_of_a_job_in_progress_is_skipped(app):
    db.session.close()
    inside, release = threading.Event(), threading.Event()
    calls = []

    def slow_work():
        calls.append("first")
        inside.set()
        assert release.wait(20)
        return {"done": 1}

    def other_work():
        calls.append("second")
        return {"done": 1}

    results = {}
    first = _in_thread(app, lambda: journal.run_job("alert_signalements", slow_work), results, "first")
    assert inside.wait(20)
    second = _in_thread(app, lambda: journal.run_job("alert_signalements", other_work), results, "second")
    second.join(20)
    # Another job is not held back by this one's lock.
    assert journal.run_job("flush_outbox", lambda: {"sent": 0}) == {"sent": 0}
    release.set()
    first.join(20)
    assert results == {"first": {"done": 1}, "second": {"skipped": 1}}
    assert calls == ["first"]
    # Once the first run is over the lock is free again.
    assert journal.run_job("alert_signalements", other_work) == {"done": 1}
    db.session.rollback()
    runs = db.session.scalars(db.select(JobRun).where(JobRun.name == "alert_signalements")).all()
    assert [r.status for r in runs] == ["ok", "ok"]  # the skipped run journals nothing


def test_a_second_nightly_sweep_is_skipped_while_one_runs(app, monkeypatch):
    """Each job runs alone already; the sweep as a whole too, or a second sweep
    would run the later jobs before the first sweep's earlier ones."""
    db.session.close()
    inside, release = threading.Event(), threading.Event()
    order = []

    def conventions():
        order.append("conventions")
        inside.set()
        assert release.wait(20)
        return {}

    monkeypatch.setattr(periodic, "NIGHTLY", {"renew_and_end_conventions": conventions,
                                              "delete_inactive_accounts": lambda: order.append("deletions")})
    results = {}
    first = _in_thread(app, periodic.nightly_sweep, results, "first")
    assert inside.wait(20)
    second = _in_thread(app, periodic.nightly_sweep, results, "second")
    second.join(20)
    release.set()
    first.join(20)
    assert results["second"] == {"skipped": 1}
    assert order == ["conventions", "deletions"]


def test_two_workers_running_the_alerts_at_once_send_each_alert_once(app, make, clock):
    """The real job, started by two workers at the same moment, many times: each
    signalement alerts the caisse's agent once (the lock, and the set-based
    UPDATE behind it)."""
    caisse = make.caisse()
    partenaire = make.partenaire(caisse)
    technicien = make.technicien(partenaire)
    agent = make.agent(caisse)
    t = clock.now()
    refs = [make_demande(technicien, caisse, service="signalement", created_at=t,
                         due_at=t + timedelta(hours=10)).reference for _ in range(5)]
    agent_email = agent.email
    db.session.close()
    for _round in range(5):
        barrier = threading.Barrier(2)
        results = {}

        def run(barrier=barrier):
            barrier.wait(10)
            return alert_signalements()

        threads = [_in_thread(app, run, results, k) for k in ("a", "b")]
        for th in threads:
            th.join(30)
        assert all(isinstance(r, dict) for r in results.values()), results
    db.session.rollback()
    mails = db.session.scalars(db.select(OutboxEmail).where(OutboxEmail.template == "signalement_alert")).all()
    alerted = sorted(ref for m in mails for ref in refs if ref in m.body_text)
    assert [m.to for m in mails] == [agent_email] * len(mails)
    assert alerted == sorted(refs)  # every signalement alerted, none twice
