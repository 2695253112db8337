"""admin_national's jobs page: the last runs, the failed e-mails, "Renvoyer"."""
from ep_web.extensions import db
from ep_web.models import AuditEvent, EmailStatus, JobRun, OutboxEmail
from workers import accounts as account_jobs


def _failed_email(clock, to="personne@structure.example"):
    e = OutboxEmail(to=to, subject="Votre compte Espace Partenaires", body_text="Bonjour", body_html="",
                    template="activation", status=EmailStatus.FAILED, attempts=8, created_at=clock.now(),
                    last_error="Envoi interrompu (worker arrêté pendant l'envoi)")
    db.session.add(e)
    db.session.commit()
    return e


def test_national_admin_sees_the_runs_and_the_failed_emails(app, make, clock, login):
    w = make.world()
    clock.advance(days=85)
    account_jobs.warn_idle_techniciens()
    db.session.add(JobRun(name="purge_closed_demandes", started_at=clock.now(), finished_at=clock.now(),
                          status="failed", error="OperationalError: connexion perdue\n\nTraceback…", counts={}))
    db.session.commit()
    failed = _failed_email(clock)
    client = login(w.national)
    html = client.get("/national/taches").get_data(as_text=True)
    assert "Tâches planifiées" in html and 'href="/national/taches"' in html  # in the navigation
    assert "Avertissement avant inactivation (3 mois sans connexion)" in html
    assert "2 avertis, 2 e-mails écrits" in html
    assert "En échec" in html and "OperationalError: connexion perdue" in html
    assert f'data-email-id="{failed.id}"' in html and "personne@structure.example" in html
    assert f'action="/national/taches/emails/{failed.id}/renvoyer"' in html
    assert "Jamais" in html  # jobs that never ran yet
    only = client.get("/national/taches?job=purge_closed_demandes").get_data(as_text=True)
    assert "Les 1 dernières exécutions" in only


def test_resend_a_failed_email(app, make, clock, login, tmp_path):
    w = make.world()
    failed = _failed_email(clock)
    client = login(w.national)
    resp = client.post(f"/national/taches/emails/{failed.id}/renvoyer")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/national/taches")
    db.session.expire_all()
    email = db.session.get(OutboxEmail, failed.id)
    assert email.status == EmailStatus.SENT and email.attempts == 1  # sent after the commit
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    audit = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "email_resent")).one()
    assert audit.actor_id == w.national.id and audit.target_id == failed.id
    # Not failed any more: nothing to resend, said plainly on the jobs page.
    resp = client.post(f"/national/taches/emails/{failed.id}/renvoyer")
    assert resp.status_code == 422 and "Tâches planifiées" in resp.get_data(as_text=True)
    assert "Seul un e-mail en échec peut être renvoyé." in resp.get_data(as_text=True)
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert client.post("/national/taches/emails/999/renvoyer").status_code == 404


def test_other_profiles_cannot_see_nor_resend(app, make, clock, login):
    w = make.world()
    failed = _failed_email(clock)
    client = login(w.admin)
    assert client.get("/national/taches").status_code == 403
    assert client.post(f"/national/taches/emails/{failed.id}/renvoyer").status_code == 403
    db.session.expire_all()
    assert db.session.get(OutboxEmail, failed.id).status == EmailStatus.FAILED

