"""The periodic jobs, run as they run in production (journaled, committed, their
e-mails sent after the commit — in-process here), with the clock moved across
the dates of SPEC §3, §4 and §7. Every job is also run twice: the second run
changes nothing more."""
import secrets
from datetime import date, timedelta

import pytest

from ep_web.clock import to_paris
from ep_web.domain.accounts import inactivate, schedule_gestionnaire_inactivation
from ep_web.domain.auth import authenticate
from ep_web.domain.passwords import set_password
from ep_web.domain.reviews import answer_item, open_review
from ep_web.domain.sessions import open_session, open_sessions
from ep_web.extensions import db
from ep_web.models import (
    Account,
    AccountStatus,
    AccountToken,
    Attachment,
    AuditEvent,
    Convention,
    ConventionState,
    Demande,
    DemandeEvent,
    DemandeMessage,
    DemandeStatus,
    JobRun,
    OutboxEmail,
    PasswordHistory,
    ReviewDecision,
    TokenPurpose,
)
from ep_web.transaction import commit
from tests.conftest import PASSWORD
from tests.workers.conftest import make_demande
from workers import accounts as account_jobs
from workers.conventions import renew_and_end_conventions
from workers.demandes import alert_signalements, purge_closed_demandes
from workers.periodic import JOBS, nightly_sweep, run_all

NEW_PASSWORD = "Encore-Un-Autre-Motdepasse-7!"


NOTHING_DUE = {"inactivated": 0, "techniciens_reattached": 0, "waiting": 0}

def _status(*accounts):
    db.session.expire_all()
    return [db.session.get(Account, a.id).status for a in accounts]


def _emails(template):
    db.session.expire_all()
    return db.session.scalars(
        db.select(OutboxEmail).where(OutboxEmail.template == template).order_by(OutboxEmail.id)).all()


def _recipients(template):
    return sorted(e.to for e in _emails(template))


def _count(model):
    return db.session.scalar(db.select(db.func.count()).select_from(model))


@pytest.fixture
def partner(make):
    """One caisse, one partner, two gestionnaires, two techniciens (created and
    last logged in now)."""
    c = make.caisse()
    p = make.partenaire(c)
    w = type("P", (), {})()
    w.caisse, w.partenaire = c, p
    w.g1 = make.gestionnaire(p)
    w.g2 = make.gestionnaire(p)
    w.t1 = make.technicien(p, manager_id=w.g1.id)
    w.t2 = make.technicien(p, manager_id=w.g1.id)
    return w


# ---------------------------------------------------------------- idle techniciens

def test_warning_a_week_before_then_inactivation_at_three_months(app, make, clock, partner):
    w = partner
    start = clock.now()
    open_session(w.t1)
    commit()
    clock.advance(days=84)  # exactly 84 days: not yet
    assert account_jobs.warn_idle_techniciens() == {"warned": 0, "emails": 0}
    clock.advance(minutes=1)
    authenticate(w.t2.login, PASSWORD)  # t2 logs in: its idle period starts again
    commit()
    assert account_jobs.warn_idle_techniciens() == {"warned": 1, "emails": 1}
    assert account_jobs.warn_idle_techniciens() == {"warned": 0, "emails": 0}  # idempotent
    (mail,) = _emails("idle_warning")
    assert mail.to == w.t1.email and w.t1.login in mail.body_text
    inactivation_day = to_paris(clock.now() + timedelta(days=7)).date()
    assert inactivation_day.strftime("%d/%m/%Y") in mail.body_text and "/connexion" in mail.body_text
    assert mail.status.value == "sent"  # dispatched after the job's commit

    clock.advance(days=6, hours=23)  # 91 days idle, warned 6 days 23 h ago: not yet
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 0}
    clock.advance(hours=1)
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 1}
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 0}
    assert _status(w.t1, w.t2, w.g1, w.g2) == [AccountStatus.INACTIVE] + [AccountStatus.ACTIVE] * 3
    t1 = db.session.get(Account, w.t1.id)
    assert t1.inactivated_at == clock.now() and "3 mois" in t1.inactivation_reason
    assert open_sessions(t1) == []  # its sessions are dead
    assert t1.last_login_at == start
    audit = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "account_inactivated")).one()
    assert audit.target_id == w.t1.id and audit.actor_id is None and audit.details["automatic"] is True


def test_a_login_after_the_warning_cancels_it(app, make, clock, partner):
    w = partner
    clock.advance(days=85)
    account_jobs.warn_idle_techniciens()
    assert sorted(_recipients("idle_warning")) == sorted([w.t1.email, w.t2.email])
    clock.advance(days=3)
    authenticate(w.t1.login, PASSWORD)
    commit()
    clock.advance(days=4)
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 1}
    assert _status(w.t1, w.t2) == [AccountStatus.ACTIVE, AccountStatus.INACTIVE]


def test_catching_up_never_skips_the_warning_week(app, make, clock, partner):
    """An account idle for long without a warning (the jobs were down) is
    warned first and inactivated a week later, not at once."""
    w = partner
    clock.advance(days=200)
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 0}
    assert account_jobs.warn_idle_techniciens()["warned"] == 2
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 0}
    clock.advance(days=7)
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 2}
    assert _status(w.t1, w.t2) == [AccountStatus.INACTIVE] * 2


def test_never_activated_technicien_counts_from_its_creation(app, make, clock, partner):
    pending = make.technicien(partner.partenaire, status=AccountStatus.PENDING, last_login_at=None,
                              created_at=clock.now() - timedelta(days=80))
    clock.advance(days=4, minutes=1)
    account_jobs.warn_idle_techniciens()
    (mail,) = _emails("idle_warning")
    assert mail.to == pending.email and "jamais été activé" in mail.body_text
    clock.advance(days=7)
    assert account_jobs.inactivate_idle_techniciens() == {"inactivated": 1}
    assert _status(pending) == [AccountStatus.INACTIVE]


def test_reactivation_starts_a_new_idle_period(app, make, clock, partner):
    from ep_web.domain.accounts import reactivate_technicien

    w = partner
    clock.advance(days=85)
    account_jobs.warn_idle_techniciens()
    clock.advance(days=7)
    account_jobs.inactivate_idle_techniciens()
    reactivate_technicien(w.g1, db.session.get(Account, w.t1.id))
    commit()
    clock.advance(days=80)
    assert account_jobs.warn_idle_techniciens()["warned"] == 0
    clock.advance(days=5)
    assert account_jobs.warn_idle_techniciens()["warned"] == 1


def test_per_caisse_setting_every_caisse_in_force_must_allow_it(app, make, clock):
    """A partner with several caisses: inactivated only if every caisse it holds
    a convention in force with keeps the setting on."""
    on, off = make.caisse(), make.caisse(idle_inactivation_enabled=False)
    both = make.partenaire(on)
    make.convention(both, off)
    only_on, only_off = make.partenaire(on), make.partenaire(off)
    suspended = make.partenaire(on, suspended_at=clock.now(), suspended_reason="fraude")
    t_both, t_on, t_off, t_susp = (make.technicien(p) for p in (both, only_on, only_off, suspended))
    g_on = make.gestionnaire(only_on)  # gestionnaires are not concerned by the idle rule
    clock.advance(days=85)
    assert account_jobs.warn_idle_techniciens()["warned"] == 1
    clock.advance(days=7)
    assert account_jobs.inactivate_idle_techniciens()["inactivated"] == 1
    assert _status(t_both, t_on, t_off, t_susp, g_on) == [
        AccountStatus.ACTIVE, AccountStatus.INACTIVE, AccountStatus.ACTIVE, AccountStatus.ACTIVE,
        AccountStatus.ACTIVE]
    # The caisse turns the setting on: the partner it shared is now concerned.
    off.idle_inactivation_enabled = True
    db.session.commit()
    assert sorted(_recipients("idle_warning")) == [t_on.email]
    account_jobs.warn_idle_techniciens()
    assert sorted(_recipients("idle_warning")) == sorted([t_on.email, t_both.email, t_off.email])


# ---------------------------------------------------------------- deletion

def test_inactive_for_six_months_is_erased_but_its_demandes_stay(app, make, clock, partner):
    w = partner
    demande = make_demande(w.t1, w.caisse, created_at=clock.now())
    db.session.add(AccountToken(account_id=w.t1.id, purpose=TokenPurpose.RESET, token_hash="x" * 64,
                                expires_at=clock.now() + timedelta(hours=1)))
    db.session.add(PasswordHistory(account_id=w.t1.id, password_hash="h", created_at=clock.now()))
    db.session.commit()
    inactivate(db.session.get(Account, w.t1.id), actor=w.g1, reason="Départ de Mme Nom")
    commit()
    clock.advance(days=182)
    assert account_jobs.delete_inactive_accounts() == {"deleted": 0}
    clock.advance(days=1)
    assert account_jobs.delete_inactive_accounts() == {"deleted": 1}
    assert account_jobs.delete_inactive_accounts() == {"deleted": 0}
    db.session.expire_all()
    t1 = db.session.get(Account, w.t1.id)
    assert t1.status == AccountStatus.DELETED and t1.deleted_at == clock.now()
    assert t1.login == w.t1.login  # the opaque login stays (audit, demandes)
    assert (t1.nom, t1.prenom, t1.email, t1.telephone, t1.fonction, t1.civilite) == ("",) * 6
    assert t1.password_hash is None and t1.inactivation_reason == ""
    assert _count(PasswordHistory) == 0 and _count(AccountToken) == 0
    d = db.session.get(Demande, demande.id)
    assert d.author_id == w.t1.id and d.author.full_name == "compte supprimé"
    assert db.session.scalars(db.select(AuditEvent.target_id).where(AuditEvent.action == "account_deleted")).all() \
        == [w.t1.id]
    assert _status(w.t2) == [AccountStatus.ACTIVE]


# ---------------------------------------------------------------- gestionnaires leaving

def test_gestionnaire_leaves_on_its_date_and_its_techniciens_are_reattached(app, make, clock, partner):
    w = partner
    c = partner.caisse
    admin = make.admin_caisse(c)
    leaving_on = clock.now().date() + timedelta(days=20)
    schedule_gestionnaire_inactivation(admin, db.session.get(Account, w.g1.id), leaving_on)
    commit()
    clock.advance(days=19)
    assert account_jobs.apply_gestionnaire_inactivations() == NOTHING_DUE
    clock.advance(days=1)
    assert account_jobs.apply_gestionnaire_inactivations() == {**NOTHING_DUE, "inactivated": 1,
                                                               "techniciens_reattached": 2}
    assert account_jobs.apply_gestionnaire_inactivations() == NOTHING_DUE
    db.session.expire_all()
    g1 = db.session.get(Account, w.g1.id)
    assert g1.status == AccountStatus.INACTIVE and g1.scheduled_inactivation_on is None
    assert [db.session.get(Account, t.id).manager_id for t in (w.t1, w.t2)] == [w.g2.id, w.g2.id]
    assert _status(w.t1, w.t2, w.g2) == [AccountStatus.ACTIVE] * 3


# ---------------------------------------------------------------- conventions

def test_tacit_renewal_denounced_end_and_the_end_of_convention_rule(app, make, clock):
    today = clock.now().date()  # 2026-03-02
    c1, c2 = make.caisse(), make.caisse()
    tacit, denounced, two_caisses, not_renewable = (make.partenaire() for _ in range(4))
    ends = today + timedelta(days=7)
    conv_tacit = make.convention(tacit, c1, signed_on=ends.replace(year=ends.year - 1), ends_on=ends)
    conv_den = make.convention(denounced, c1, state=ConventionState.DENONCEE, ends_on=ends)
    conv_two = make.convention(two_caisses, c1, state=ConventionState.DENONCEE, ends_on=ends)
    make.convention(two_caisses, c2)
    conv_nr = make.convention(not_renewable, c2, ends_on=ends)
    conv_nr.tacit_renewal = False
    db.session.commit()
    accounts = {p.name: [make.gestionnaire(p), make.technicien(p)] for p in (tacit, denounced, two_caisses,
                                                                                not_renewable)}
    clock.advance(days=7)  # the last day: still in force
    assert renew_and_end_conventions() == {"renewed": 0, "ended": 0, "accounts_inactivated": 0}
    clock.advance(days=1)
    assert renew_and_end_conventions() == {"renewed": 1, "ended": 3, "accounts_inactivated": 4}
    assert renew_and_end_conventions() == {"renewed": 0, "ended": 0, "accounts_inactivated": 0}
    db.session.expire_all()
    assert db.session.get(Convention, conv_tacit.id).ends_on == ends.replace(year=ends.year + 1)
    assert db.session.get(Convention, conv_tacit.id).state == ConventionState.ACTIVE
    for conv in (conv_den, conv_two, conv_nr):
        conv = db.session.get(Convention, conv.id)
        assert conv.state == ConventionState.TERMINEE and conv.ended_at == clock.now() and conv.ends_on == ends
    assert _status(*accounts[tacit.name], *accounts[two_caisses.name]) == [AccountStatus.ACTIVE] * 4
    assert _status(*accounts[denounced.name], *accounts[not_renewable.name]) == [AccountStatus.INACTIVE] * 4
    assert {a.inactivation_reason for a in (db.session.get(Account, x.id) for x in accounts[denounced.name])} == {
        "Fin de convention"}


def test_tacit_renewal_catches_up_whole_years_and_29_february(app, make, clock):
    c = make.caisse()
    p1, p2 = make.partenaire(), make.partenaire()
    old = make.convention(p1, c, signed_on=date(2023, 1, 16), ends_on=date(2024, 1, 15))
    leap = make.convention(p2, c, signed_on=date(2023, 3, 1), ends_on=date(2024, 2, 29))
    assert renew_and_end_conventions()["renewed"] == 2
    assert renew_and_end_conventions()["renewed"] == 0
    db.session.expire_all()
    assert db.session.get(Convention, old.id).ends_on == date(2027, 1, 15)
    assert db.session.get(Convention, leap.id).ends_on == date(2027, 2, 28)


# ---------------------------------------------------------------- reminders

def test_password_expiry_reminder_14_days_before_once_per_password(app, make, clock, partner):
    app.config["PASSWORD_MAX_AGE_DAYS"] = 365
    w = partner
    clock.advance(days=350, hours=23)
    assert account_jobs.remind_password_expiry() == {"reminded": 0, "emails": 0}
    clock.advance(hours=1)
    # Everyone of the partner changed their password at the start: all reminded.
    assert account_jobs.remind_password_expiry() == {"reminded": 4, "emails": 4}
    assert account_jobs.remind_password_expiry() == {"reminded": 0, "emails": 0}
    mail = [m for m in _emails("password_expiry") if m.to == w.t1.email][0]
    expires = to_paris(w.t1.password_changed_at + timedelta(days=365)).date()
    assert expires.strftime("%d/%m/%Y") in mail.body_text
    clock.advance(minutes=1)
    set_password(db.session.get(Account, w.t1.id), NEW_PASSWORD)
    commit()
    clock.advance(days=351)
    assert account_jobs.remind_password_expiry() == {"reminded": 1, "emails": 1}
    assert _recipients("password_expiry").count(w.t1.email) == 2


def test_no_password_reminder_when_passwords_do_not_expire(app, make, clock, partner):
    app.config["PASSWORD_MAX_AGE_DAYS"] = 0
    clock.advance(days=360)
    assert account_jobs.remind_password_expiry() == {"reminded": 0, "emails": 0}


def test_habilitation_review_reminders(app, make, clock, partner):
    w = partner
    admin = make.admin_caisse(w.caisse)
    review = open_review(admin, w.partenaire, clock.now().date() + timedelta(days=30))
    commit()
    other = make.partenaire(w.caisse)
    other_g = make.gestionnaire(other)
    done = open_review(admin, other, clock.now().date() + timedelta(days=30))
    commit()
    for item in done.items:
        answer_item(other_g, item, ReviewDecision.CONFIRMED)
    commit()
    answer_item(w.g1, [i for i in review.items if i.account_id == w.t1.id][0], ReviewDecision.CONFIRMED)
    commit()
    clock.advance(days=22)
    assert account_jobs.remind_habilitation_reviews() == {"reminded": 0, "emails": 0}
    clock.advance(days=1)  # a week before the deadline
    assert account_jobs.remind_habilitation_reviews() == {"reminded": 1, "emails": 2}
    assert account_jobs.remind_habilitation_reviews() == {"reminded": 0, "emails": 0}
    assert _recipients("review_reminder") == sorted([w.g1.email, w.g2.email])
    assert "3 comptes de votre structure restent" in _emails("review_reminder")[0].body_text
    clock.advance(days=6)
    assert account_jobs.remind_habilitation_reviews()["reminded"] == 0
    clock.advance(days=1)  # deadline day: weekly reminder, not overdue yet
    assert account_jobs.remind_habilitation_reviews() == {"reminded": 1, "emails": 2}
    clock.advance(days=7)  # overdue: the caisse is told too
    assert account_jobs.remind_habilitation_reviews() == {"reminded": 1, "emails": 3}
    last = _emails("review_reminder")[-1]
    assert last.to == w.caisse.referent_email and "dépassée" in last.body_text


# ---------------------------------------------------------------- signalements

def test_signalement_alert_to_the_caisse_agents_once_without_personal_data(app, make, clock, partner):
    w = partner
    agents = [make.agent(w.caisse), make.agent(w.caisse)]
    make.agent(w.caisse, status=AccountStatus.INACTIVE)
    other_caisse = make.caisse()
    make.agent(other_caisse)
    t = clock.now()
    sig = make_demande(w.t1, w.caisse, service="signalement", created_at=t, due_at=t + timedelta(hours=48),
                       nom="Zorglub-Fictif")
    urgent = make_demande(w.t1, w.caisse, service="signalement", created_at=t, due_at=t + timedelta(hours=47),
                          urgent=True)
    make_demande(w.t1, w.caisse, service="signalement", created_at=t, due_at=t + timedelta(hours=40),
                 status=DemandeStatus.CLOTUREE, closed_at=t)
    make_demande(w.t1, w.caisse, service="contact", created_at=t)
    clock.advance(hours=34)
    assert alert_signalements() == {"alerted": 0, "emails": 0}
    clock.advance(hours=1)  # 12 h left for the urgent one
    assert alert_signalements() == {"alerted": 1, "emails": 2}
    clock.advance(hours=1)
    assert alert_signalements() == {"alerted": 1, "emails": 2}
    assert alert_signalements() == {"alerted": 0, "emails": 0}
    mails = _emails("signalement_alert")
    assert sorted(m.to for m in mails) == sorted([a.email for a in agents] * 2)
    assert urgent.reference in mails[0].body_text and sig.reference in mails[-1].body_text
    for m in mails:
        assert "Zorglub" not in m.body_text + m.body_html and "Camille" not in m.body_text + m.body_html
    # A caisse without active agents: the referent mailbox gets it.
    lonely = make.caisse()
    make.convention(w.partenaire, lonely)
    make_demande(w.t1, lonely, service="signalement", created_at=clock.now(),
                 due_at=clock.now() - timedelta(hours=1))
    assert alert_signalements() == {"alerted": 1, "emails": 1}
    assert _emails("signalement_alert")[-1].to == lonely.referent_email
    assert "dépassé" in _emails("signalement_alert")[-1].body_text


# ---------------------------------------------------------------- retention

def test_closed_demandes_and_their_files_are_purged_after_the_retention(app, make, clock, partner, tmp_path):
    w = partner
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app.config["UPLOAD_DIR"] = str(uploads)
    t = clock.now()
    old = make_demande(w.t1, w.caisse, created_at=t, status=DemandeStatus.CLOTUREE, closed_at=t)
    recent = make_demande(w.t1, w.caisse, created_at=t, status=DemandeStatus.CLOTUREE,
                          closed_at=t + timedelta(days=10))
    still_open = make_demande(w.t1, w.caisse, created_at=t)
    files = {}
    for d in (old, recent, still_open):
        msg = DemandeMessage(demande_id=d.id, author_id=w.t1.id, body="Bonjour", created_at=t)
        db.session.add_all([msg, DemandeEvent(demande_id=d.id, kind="created", at=t, details={})])
        db.session.flush()
        for n in (1, 2):
            name = secrets.token_hex(16)
            (uploads / name).write_bytes(b"%PDF-1.4 fictif")
            files.setdefault(d.id, []).append(uploads / name)
            db.session.add(Attachment(demande_id=d.id, message_id=msg.id if n == 2 else None, uploaded_by_id=w.t1.id,
                                      original_name="piece.pdf", stored_name=name, content_type="application/pdf",
                                      size=15, sha256="0" * 64, created_at=t))
    db.session.commit()
    old_id, recent_id, open_id = old.id, recent.id, still_open.id
    files[old_id][1].unlink()  # already gone (an earlier run stopped half-way): no error
    clock.advance(days=729, hours=23)
    nothing = {"demandes": 0, "files": 0, "files_removed": 0, "orphan_files_removed": 0, "journal_pruned": 0}
    assert purge_closed_demandes() == nothing
    clock.advance(hours=1)
    assert purge_closed_demandes() == {**nothing, "demandes": 1, "files": 2, "files_removed": 1}
    assert purge_closed_demandes()["demandes"] == 0
    db.session.expire_all()
    assert db.session.get(Demande, old_id) is None
    assert [d.id for d in db.session.scalars(db.select(Demande).order_by(Demande.id))] == [recent_id, open_id]
    assert {a.demande_id for a in db.session.scalars(db.select(Attachment))} == {recent_id, open_id}
    assert {m.demande_id for m in db.session.scalars(db.select(DemandeMessage))} == {recent_id, open_id}
    assert {e.demande_id for e in db.session.scalars(db.select(DemandeEvent))} == {recent_id, open_id}
    assert not any(f.exists() for f in files[old_id])
    assert all(f.exists() for f in files[recent_id] + files[open_id])
    clock.advance(days=10)
    assert purge_closed_demandes()["demandes"] == 1


# ---------------------------------------------------------------- journal, idempotence, CLI

def test_every_run_is_journaled_with_counts_and_duration(app, make, clock, partner):
    clock.advance(days=85)
    account_jobs.warn_idle_techniciens()
    run = db.session.scalars(db.select(JobRun).where(JobRun.name == "warn_idle_techniciens")).one()
    assert run.status == "ok" and run.started_at == clock.now() and run.finished_at == clock.now()
    assert run.counts == {"warned": 2, "emails": 2} and run.duration_ms is not None and run.error == ""


def test_a_failing_job_is_journaled_rolled_back_and_does_not_stop_the_others(app, make, clock, partner,
                                                                              monkeypatch):
    from ep_web.domain import lifecycle

    original = lifecycle.inactivate_idle_techniciens

    def broken():
        original()  # changes rows, then fails: all of it rolled back
        raise RuntimeError("base indisponible")

    clock.advance(days=85)
    account_jobs.warn_idle_techniciens()
    clock.advance(days=7)
    monkeypatch.setattr(lifecycle, "inactivate_idle_techniciens", broken)
    results = dict(run_all())
    assert "RuntimeError: base indisponible" in results["inactivate_idle_techniciens"]
    assert isinstance(results["purge_closed_demandes"], dict)  # the following jobs ran
    run = db.session.scalars(db.select(JobRun).where(JobRun.name == "inactivate_idle_techniciens")).one()
    assert run.status == "failed" and "base indisponible" in run.error and run.finished_at == clock.now()
    assert _status(partner.t1, partner.t2) == [AccountStatus.ACTIVE] * 2
    with pytest.raises(Exception, match="inactivate_idle_techniciens"):
        nightly_sweep()


def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted(app, make, clock):
    dead = JobRun(name="delete_inactive_accounts", started_at=clock.now() - timedelta(hours=2), status="running",
                  counts={})
    db.session.add(dead)
    db.session.commit()
    account_jobs.delete_inactive_accounts()
    db.session.expire_all()
    assert db.session.get(JobRun, dead.id).status == "interrupted"
    assert db.session.scalars(db.select(JobRun.status).order_by(JobRun.id)).all() == ["interrupted", "ok"]


def _snapshot():
    db.session.expire_all()
    rows = {}
    for model in (Account, Convention, Demande, OutboxEmail, AuditEvent):
        rows[model.__tablename__] = [
            tuple(getattr(o, c.key) for c in model.__table__.columns)
            for o in db.session.scalars(db.select(model).order_by(model.id))
        ]
    return rows


def test_every_job_run_twice_changes_nothing_more(app, make, clock, partner):
    """A world where every rule has something to do, swept twice at each date."""
    w = partner
    admin = make.admin_caisse(w.caisse)
    make.agent(w.caisse)
    c2 = make.caisse()
    ending = make.partenaire()
    make.convention(ending, c2, state=ConventionState.DENONCEE, ends_on=clock.now().date() + timedelta(days=90))
    make.technicien(ending)
    schedule_gestionnaire_inactivation(admin, db.session.get(Account, w.g1.id),
                                       clock.now().date() + timedelta(days=20))
    open_review(admin, w.partenaire, clock.now().date() + timedelta(days=60))
    commit()
    make_demande(w.t2, w.caisse, service="signalement", created_at=clock.now() + timedelta(days=91),
                 due_at=clock.now() + timedelta(days=91, hours=2))
    make_demande(w.t2, w.caisse, created_at=clock.now(), status=DemandeStatus.CLOTUREE, closed_at=clock.now())
    inactivate(db.session.get(Account, w.t2.id), actor=w.g2, reason="départ")
    commit()
    did = set()
    for days in (21, 64, 7, 1, 100, 540):
        clock.advance(days=days)
        first = dict(run_all())
        assert all(isinstance(c, dict) for c in first.values()), first
        did |= {name for name, counts in first.items() if any(counts.values())}
        before = _snapshot()
        second = dict(run_all())
        assert _snapshot() == before, f"after {days} days"
        for name, counts in second.items():
            assert not any(counts.values()), (name, counts)
        assert set(first) == set(JOBS)
    # Everything happened at some point.
    assert did >= {"renew_and_end_conventions", "apply_gestionnaire_inactivations", "warn_idle_techniciens",
                     "inactivate_idle_techniciens", "delete_inactive_accounts", "remind_habilitation_reviews",
                     "alert_signalements", "purge_closed_demandes"}


def test_cli_runs_every_periodic_job_once(app, make, clock, partner):
    clock.advance(days=85)
    result = app.test_cli_runner().invoke(args=["ep", "run-jobs"])
    assert result.exit_code == 0, result.output
    for name in JOBS:
        assert f"{name}: " in result.output
    assert "warn_idle_techniciens: {'warned': 2, 'emails': 2}" in result.output
    assert _count(JobRun) >= len(JOBS)



def test_a_demande_the_caisse_keeps_longer_waits_for_its_own_date(app, make, clock, partner):
    """SPEC §7: an extended retention moves the purge to the caisse's date, no earlier."""
    w = partner
    t = clock.now()
    kept = make_demande(w.t1, w.caisse, created_at=t, status=DemandeStatus.CLOTUREE, closed_at=t)
    other = make_demande(w.t1, w.caisse, created_at=t, status=DemandeStatus.CLOTUREE, closed_at=t)
    kept.retained_until = (t + timedelta(days=800)).date()
    kept.retention_reason = "Contentieux en cours"
    db.session.commit()
    kept_id, other_id = kept.id, other.id
    clock.advance(days=731)
    assert purge_closed_demandes()["demandes"] == 1
    db.session.expire_all()
    assert db.session.get(Demande, other_id) is None and db.session.get(Demande, kept_id) is not None
    clock.advance(days=70)
    assert purge_closed_demandes()["demandes"] == 1
    db.session.expire_all()
    assert db.session.get(Demande, kept_id) is None
