"""The lifecycle on a real Redis: the nightly sweep is queued as RQ's scheduler
queues it and run by an RQ SimpleWorker in burst mode (its e-mails go out
through the flush jobs it queues, to a real SMTP server), while the clock
moves across a gestionnaire's leaving date, 3 months without login, a
convention's end date and 6 months of inactivity. At each step: exactly which
accounts changed, exactly which e-mails were sent."""
from datetime import timedelta

from ep_web.domain.accounts import schedule_gestionnaire_inactivation
from ep_web.domain.auth import authenticate
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, ConventionState, EmailStatus, JobRun, OutboxEmail
from ep_web.transaction import commit
from tests.conftest import PASSWORD, START
from tests.workers.conftest import REDIS_URL, free_port, work

A, I, D = AccountStatus.ACTIVE, AccountStatus.INACTIVE, AccountStatus.DELETED  # noqa: E741  (initials, as in the tables below)


def _night(clock, queue, day):
    clock.at = START + timedelta(days=day, hours=1)
    queue.enqueue("workers.periodic.nightly_sweep")
    work(queue)
    assert queue.count == 0


def test_the_lifecycle_over_nine_months_on_rq(app, make, clock, smtp, redis_queue):
    caisse, caisse_off = make.caisse(), make.caisse(idle_inactivation_enabled=False)
    admin = make.admin_caisse(caisse)
    p1 = make.partenaire(caisse)
    p2 = make.partenaire()  # its only convention is denounced and ends on day 100
    p3 = make.partenaire(caisse_off)  # keeps another convention when its first one ends
    p4 = make.partenaire(caisse_off)  # its caisse turned the idle rule off
    end = START.date() + timedelta(days=100)
    make.convention(p2, caisse, state=ConventionState.DENONCEE, ends_on=end)
    make.convention(p3, caisse, state=ConventionState.DENONCEE, ends_on=end)
    acc = {
        "g1_leaving": make.gestionnaire(p1),
        "g1_stays": make.gestionnaire(p1),
        "p2_g": make.gestionnaire(p2),
        "p3_g": make.gestionnaire(p3),
        "p4_g": make.gestionnaire(p4),
        "agent": make.agent(caisse),
    }
    acc["t1"] = make.technicien(p1, manager_id=acc["g1_leaving"].id)
    acc["t2_logs_in"] = make.technicien(p1, manager_id=acc["g1_leaving"].id)
    acc["t3"] = make.technicien(p1, manager_id=acc["g1_stays"].id)
    acc["p2_t"] = make.technicien(p2)
    acc["p3_t"] = make.technicien(p3)  # protected: caisse_off is among its caisses
    acc["p4_t"] = make.technicien(p4)
    emails = {k: a.email for k, a in acc.items()}
    ids = {k: a.id for k, a in acc.items()}
    schedule_gestionnaire_inactivation(admin, acc["g1_leaving"], START.date() + timedelta(days=30))
    commit()
    expected = {k: A for k in acc}
    seen = 0

    def check(changes: dict, mailed: dict):
        nonlocal seen
        expected.update(changes)
        db.session.expire_all()
        assert {k: db.session.get(Account, i).status for k, i in ids.items()} == expected
        got = sorted((m["To"], m["Subject"]) for m in smtp.messages[seen:])
        assert got == sorted((emails[k], subject) for k, subject in mailed.items())
        seen = len(smtp.messages)

    def logs_in():
        authenticate(acc["t2_logs_in"].login, PASSWORD)
        commit()

    warning = "Votre compte Espace Partenaires va être inactivé"

    _night(clock, redis_queue, 29)
    check({}, {})
    _night(clock, redis_queue, 30)  # the gestionnaire's leaving date
    check({"g1_leaving": I}, {})
    db.session.expire_all()
    assert [db.session.get(Account, ids[t]).manager_id for t in ("t1", "t2_logs_in", "t3")] == \
        [ids["g1_stays"]] * 3

    clock.at = START + timedelta(days=60)
    logs_in()
    _night(clock, redis_queue, 84)  # a week before 3 months without login
    check({}, {"t1": warning, "t3": warning, "p2_t": warning})
    _night(clock, redis_queue, 90)
    check({}, {})
    _night(clock, redis_queue, 91)  # 3 months
    check({"t1": I, "t3": I, "p2_t": I}, {})

    _night(clock, redis_queue, 100)  # the conventions' last day: still in force
    check({}, {})
    _night(clock, redis_queue, 101)  # ended: p2 has nothing left, p3 keeps caisse_off
    check({"p2_g": I}, {})

    clock.at = START + timedelta(days=140)
    logs_in()
    _night(clock, redis_queue, 212)
    check({}, {})
    _night(clock, redis_queue, 213)  # 6 months after the gestionnaire left
    check({"g1_leaving": D}, {})
    clock.at = START + timedelta(days=220)
    logs_in()
    _night(clock, redis_queue, 274)  # 6 months after the idle inactivation
    check({"t1": D, "t3": D, "p2_t": D}, {})
    _night(clock, redis_queue, 284)
    check({"p2_g": D}, {})
    _night(clock, redis_queue, 284)  # the same night twice: nothing more
    check({}, {})

    db.session.expire_all()
    t1 = db.session.get(Account, ids["t1"])
    assert (t1.nom, t1.email, t1.full_name) == ("", "", "compte supprimé")
    assert db.session.scalars(db.select(OutboxEmail.status).distinct()).all() == [EmailStatus.SENT]
    runs = db.session.scalars(db.select(JobRun)).all()
    assert {r.status for r in runs} == {"ok"}
    # Runs older than 90 days are pruned: the nights of days 212, 213, 274, 284 and 284 remain.
    assert min(r.started_at for r in runs) >= clock.now() - timedelta(days=90)
    assert len([r for r in runs if r.name == "warn_idle_techniciens"]) == 5


def test_redis_down_when_a_gestionnaire_creates_a_technicien(app, make, smtp, redis_queue, login):
    """Redis is unreachable at commit time: the account is created all the same,
    its activation e-mail waits in the outbox, and the periodic flush sends it
    once Redis is back."""
    w = make.world()
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # Redis down
    client = login(w.gestionnaire)
    email = f"zoe.fictive@{w.partenaire.domain_list[0]}"
    resp = client.post("/gestion/techniciens", data={"civilite": "Mme", "nom": "Fictive", "prenom": "Zoé",
                                                     "fonction": "Travailleuse sociale",
                                                     "telephone": "04 50 00 00 01", "email": email})
    assert resp.status_code == 303
    tech = db.session.scalars(db.select(Account).where(Account.email == email)).one()
    assert tech.status == AccountStatus.PENDING
    # The activation, and the other gestionnaire's notification of a new account (SPEC §6).
    pending = db.session.scalars(db.select(OutboxEmail).where(OutboxEmail.to == email)).all()
    assert [(m.template, m.status) for m in pending] == [("activation", EmailStatus.PENDING)]
    assert {m.status for m in db.session.scalars(db.select(OutboxEmail))} == {EmailStatus.PENDING}
    assert smtp.messages == [] and redis_queue.count == 0

    app.config["REDIS_URL"] = REDIS_URL  # Redis is back
    redis_queue.enqueue("workers.mail.flush_outbox")  # as RQ's scheduler does every 5 minutes
    work(redis_queue)
    sent = [m for m in smtp.messages if m["To"] == email]
    assert len(sent) == 1 and tech.login in sent[0].get_body(("plain",)).get_content()
    count = len(smtp.messages)
    redis_queue.enqueue("workers.mail.flush_outbox")
    work(redis_queue)
    assert len(smtp.messages) == count
    db.session.expire_all()
    assert {m.status for m in db.session.scalars(db.select(OutboxEmail))} == {EmailStatus.SENT}


def test_the_rq_cron_schedule(app, make, clock, redis_queue, monkeypatch):
    """workers/cron.py, loaded by RQ's own scheduler (``rq cron workers.cron``):
    the nightly sweep at 23:05 UTC (just after midnight in Paris), the alerts
    and the flush at intervals, due at once when the scheduler starts."""
    from rq.cron import CronScheduler

    monkeypatch.setenv("EP_RQ_QUEUE", redis_queue.name)
    scheduler = CronScheduler(connection=redis_queue.connection)
    scheduler.load_config_from_file("workers.cron")
    jobs = {j.func_name: j for j in scheduler.get_jobs()}
    assert jobs["workers.periodic.nightly_sweep"].cron == "5 23 * * *"
    assert jobs["workers.demandes.alert_signalements"].interval == 15 * 60
    assert jobs["workers.mail.flush_outbox"].interval == 5 * 60
    assert {j.func_name: j.queue_name for j in jobs.values()} == {
        "workers.periodic.nightly_sweep": redis_queue.name,
        "workers.demandes.alert_signalements": redis_queue.name,
        "workers.mail.flush_outbox": redis_queue.mail.name,  # e-mail never waits behind a sweep
        "workers.files.scan_pending_files": redis_queue.name,  # files waiting for clamd
    }
    enqueued = scheduler.enqueue_jobs()
    assert sorted(j.func_name for j in enqueued) == ["workers.demandes.alert_signalements",
                                                     "workers.files.scan_pending_files", "workers.mail.flush_outbox"]
    work(redis_queue)
    assert sorted(db.session.scalars(db.select(JobRun.name)).all()) == ["alert_signalements", "flush_outbox",
                                                                        "scan_pending_files"]

