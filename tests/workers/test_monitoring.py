"""What is late, shown in red on /national/taches, and the incidents: one
e-mail per incident to admin_national (not one per check), closed when the
thing clears."""
from datetime import timedelta

import pytest

from ep_web.domain import monitoring
from ep_web.extensions import db
from ep_web.models import AccountStatus, EmailStatus, JobRun, MonitorIncident, OutboxEmail, WorkerHeartbeat
from workers.heartbeat import Heartbeat
from workers.monitor import check_health


def _keys():
    return [i.key for i in monitoring.late_items()]


def _incident_mails():
    return db.session.scalars(db.select(OutboxEmail).where(OutboxEmail.template == "incident")
                              .order_by(OutboxEmail.id)).all()


def _run(clock, name, status="ok", ago=timedelta(0)):
    db.session.add(JobRun(name=name, started_at=clock.now() - ago, finished_at=clock.now() - ago, status=status,
                          counts={}))
    db.session.commit()


def test_a_periodic_job_is_late_after_twice_its_period(app, clock):
    for name in monitoring.PERIODS:
        _run(clock, name)
    assert _keys() == []
    clock.advance(minutes=10)
    assert _keys() == []  # the flush runs every 5 minutes: not late at exactly twice
    clock.advance(seconds=1)
    # The 5-minute jobs: the scan of files waiting for the antivirus, and the flush.
    assert sorted(_keys()) == ["job:flush_outbox", "job:scan_pending_files"]
    _run(clock, "scan_pending_files")
    _run(clock, "flush_outbox", status="failed")  # a failed run is no success
    assert _keys() == ["job:flush_outbox"]
    _run(clock, "flush_outbox")
    assert _keys() == []
    clock.advance(minutes=20)
    _run(clock, "flush_outbox")
    _run(clock, "scan_pending_files")
    assert _keys() == ["job:alert_signalements"]
    clock.advance(days=2)
    assert len(_keys()) == len(monitoring.PERIODS)


def test_never_run_jobs_are_late_once_a_scheduler_has_been_up_long_enough(app, clock):
    assert _keys() == []  # no scheduler: a deployment run by cron, nothing to say yet
    scheduler = Heartbeat("scheduler", name="planif")
    scheduler.beat("scheduling")
    clock.advance(minutes=11)
    scheduler.beat("scheduling", force=True)
    assert "job:flush_outbox" in _keys() and "job:purge_closed_demandes" not in _keys()
    Heartbeat("scheduler", name="planif").beat("scheduling")  # restarted (same name): up since now
    assert _keys() == []


def test_silent_workers_and_redis_waits(app, clock):
    Heartbeat("worker", name="w1").beat("idle")
    Heartbeat("worker", name="w2").beat("redis_unavailable", "ConnectionError")
    assert _keys() == ["redis"]
    clock.advance(minutes=2)
    assert _keys() == ["redis"]
    clock.advance(seconds=1)
    assert _keys() == ["silent:w1", "silent:w2"]
    hb = Heartbeat("worker", name="w1")
    hb.beat("busy")
    assert _keys() == ["silent:w2"]
    row = db.session.scalars(db.select(WorkerHeartbeat).where(WorkerHeartbeat.name == "w1")).one()
    assert row.state == "busy" and row.seen_at == clock.now()
    hb.stop()  # a clean stop is not a silence
    clock.advance(days=2)
    assert _keys() == []  # forgotten after a day


def test_emails_pending_for_more_than_ten_minutes(app, clock):
    db.session.add_all([OutboxEmail(to=f"x{n}@structure.example", subject="s", body_text="b", created_at=clock.now())
                        for n in range(3)])
    db.session.add(OutboxEmail(to="y@structure.example", subject="s", body_text="b", created_at=clock.now(),
                               status=EmailStatus.SENT))
    db.session.commit()
    clock.advance(minutes=10)
    assert _keys() == []
    clock.advance(seconds=1)
    (item,) = monitoring.late_items()
    assert item.key == "emails" and item.label.startswith("3 e-mails en attente depuis plus de 10 minutes")


def test_one_email_per_incident_to_each_national_admin_then_closed(app, make, clock, smtp):
    admins = [make.admin_national(), make.admin_national()]
    make.admin_national(status=AccountStatus.INACTIVE)
    Heartbeat("worker", name="w1").beat("idle")
    assert check_health() == {"opened": 0, "closed": 0}
    clock.advance(minutes=3)
    assert check_health() == {"opened": 1, "closed": 0}
    for _ in range(5):  # checked every minute: no new e-mail
        clock.advance(minutes=1)
        assert check_health() == {"opened": 0, "closed": 0}
    mails = _incident_mails()
    assert sorted(m.to for m in mails) == sorted(a.email for a in admins)
    assert {m.status for m in mails} == {EmailStatus.SENT}  # sent by the checker itself, at once
    assert len(smtp.messages) == 2 and "w1" in smtp.messages[0]["Subject"]
    assert "/national/taches" in mails[0].body_text and "ne donne plus signe de vie" in mails[0].body_text
    Heartbeat("worker", name="w1").beat("idle")
    assert check_health() == {"opened": 0, "closed": 1}
    clock.advance(minutes=3)  # silent again: a new incident, a new e-mail
    assert check_health() == {"opened": 1, "closed": 0}
    assert len(_incident_mails()) == 4
    incidents = db.session.scalars(db.select(MonitorIncident).order_by(MonitorIncident.id)).all()
    assert [(i.key, i.open_key, i.closed_at is not None) for i in incidents] == [
        ("silent:w1", None, True), ("silent:w1", "silent:w1", False)]


@pytest.mark.committed
def test_two_checkers_racing_open_the_incident_once(app, make, clock):
    """The second checker's insert hits the unique open_key: it rolls back,
    its e-mails with it."""
    make.admin_national()
    Heartbeat("worker", name="w1").beat("idle")
    clock.advance(minutes=3)
    other = MonitorIncident(key="silent:w1", open_key="silent:w1", label="déjà ouvert", opened_at=clock.now())
    db.session.add(other)  # the other checker's transaction, not yet visible to our read...
    db.session.commit()
    other_id = other.id
    opened_before = monitoring.open_incidents
    try:
        monitoring.open_incidents = lambda: []  # ...so this checker believes nothing is open
        assert check_health() == {"opened": 0, "closed": 0}
    finally:
        monitoring.open_incidents = opened_before
    db.session.expire_all()
    assert _incident_mails() == [] and db.session.get(MonitorIncident, other_id).label == "déjà ouvert"
    assert db.session.scalar(db.select(db.func.count(MonitorIncident.id))) == 1


def test_the_jobs_page_shows_what_is_late_on_top_in_red(app, make, clock, login):
    w = make.world()
    Heartbeat("worker", name="worker-1").beat("idle")
    Heartbeat("scheduler", name="planificateur").beat("scheduling")
    client = login(w.national)
    html = client.get("/national/taches").get_data(as_text=True)
    assert 'data-testid="en-retard"' not in html
    assert 'data-heartbeat="worker-1"' in html and "En attente de travail" not in html
    clock.advance(minutes=3)
    Heartbeat("scheduler", name="planificateur").beat("scheduling")
    html = client.get("/national/taches").get_data(as_text=True)
    red = html.index('data-testid="en-retard"')
    assert red < html.index("Dernière exécution de chaque tâche")
    assert "fr-alert--error" in html[red - 200:red]
    assert 'data-late-key="silent:worker-1"' in html
    assert "Le worker « worker-1 »" in html and "ne donne plus signe de vie depuis le 02/03/2026 à 10:00" in html
    assert "Silencieux" in html
