"""What is late in the background machinery, and the incidents admin_national
is told about (README "Production", SPEC §7 follow-up of the service).

Late means one of:

- a periodic job that has not succeeded for twice its period;
- a worker or the scheduler whose heartbeat stopped for WORKER_SILENT (a
  process that stops cleanly removes its heartbeat: only a dead or stuck one
  is left behind), or one that says it cannot reach Redis;
- e-mails still pending EMAIL_LATE after they were written.

Each distinct late thing is an *incident*: opened once (with one e-mail to
every active admin_national), closed when the thing is no longer late. Two
checkers racing open it once: ``MonitorIncident.open_key`` is unique.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ep_web.clock import now, to_paris
from ep_web.extensions import db
from ep_web.models import (
    Account,
    AccountStatus,
    EmailStatus,
    JobRun,
    MonitorIncident,
    OutboxEmail,
    Profile,
    WorkerHeartbeat,
)

WORKER_SILENT = timedelta(minutes=2)
EMAIL_LATE = timedelta(minutes=10)
# Heartbeat rows silent for this long are forgotten (a machine taken away).
HEARTBEAT_FORGET = timedelta(days=1)

DAILY = timedelta(days=1)
# The period of each periodic job (workers/cron.py schedules them with these).
PERIODS = {
    "renew_and_end_conventions": DAILY,
    "apply_gestionnaire_inactivations": DAILY,
    "warn_idle_techniciens": DAILY,
    "inactivate_idle_techniciens": DAILY,
    "delete_inactive_accounts": DAILY,
    "remind_password_expiry": DAILY,
    "remind_habilitation_reviews": DAILY,
    "purge_closed_demandes": DAILY,
    "send_news_digests": DAILY,
    "send_notification_digests": DAILY,
    "alert_signalements": timedelta(minutes=15),
    "scan_pending_files": timedelta(minutes=5),
    # EP_FLUSH_EVERY_S: shorter for the fault campaign (bench/faults.py), never below 10 s.
    "flush_outbox": timedelta(seconds=max(int(os.environ.get("EP_FLUSH_EVERY_S") or 300), 10)),
}
KIND_LABELS = {"worker": "Le worker", "scheduler": "Le planificateur"}
STATE_LABELS = {
    "idle": "en attente de travail",
    "busy": "au travail",
    "started": "démarrage",
    "redis_unavailable": "attend Redis",
    "scheduling": "planifie",
}


@dataclass(frozen=True)
class Late:
    key: str
    label: str
    since: datetime | None = None


def _dt(value: datetime) -> str:
    return to_paris(value).strftime("%d/%m/%Y à %H:%M")


def _period_text(period: timedelta) -> str:
    minutes = int(period.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return "chaque jour" if days == 1 else f"tous les {days} jours"
    return f"toutes les {minutes} minutes"


def heartbeats() -> list[WorkerHeartbeat]:
    return db.session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.kind, WorkerHeartbeat.name)).all()


def is_silent(hb: WorkerHeartbeat, at: datetime | None = None) -> bool:
    return (at or now()) - hb.seen_at > WORKER_SILENT


def late_items(at: datetime | None = None) -> list[Late]:
    """Everything late right now, most serious first."""
    from ep_web.domain.lifecycle import JOB_LABELS

    at = at or now()
    items: list[Late] = []
    beats = [hb for hb in heartbeats() if at - hb.seen_at <= HEARTBEAT_FORGET]
    for hb in beats:
        who = f"{KIND_LABELS.get(hb.kind, 'Le processus')} « {hb.name} » ({hb.hostname}, pid {hb.pid})"
        if is_silent(hb, at):
            items.append(Late(f"silent:{hb.name}", f"{who} ne donne plus signe de vie depuis le {_dt(hb.seen_at)}.",
                              hb.seen_at))
        elif hb.state == "redis_unavailable":
            items.append(Late("redis", f"Redis est injoignable : {who} attend qu'il revienne "
                                       "(les e-mails et les tâches attendent aussi).", hb.seen_at))

    last_ok = dict(db.session.execute(
        select(JobRun.name, func.max(JobRun.started_at)).where(JobRun.status == "ok").group_by(JobRun.name)).all())
    first_run = dict(db.session.execute(
        select(JobRun.name, func.min(JobRun.started_at)).group_by(JobRun.name)).all())
    # A job that never succeeded is late once a scheduler has been up long enough to run it.
    schedulers = [hb.started_at for hb in beats if hb.kind == "scheduler" and not is_silent(hb, at)]
    scheduler_since = min(schedulers) if schedulers else None
    for name, period in PERIODS.items():
        last = last_ok.get(name)
        since = last or first_run.get(name) or scheduler_since
        if since is None or at - since <= 2 * period:
            continue
        label = JOB_LABELS.get(name, name)
        if last:
            text = f"La tâche « {label} » ({_period_text(period)}) n'a pas réussi depuis le {_dt(last)}."
        else:
            text = f"La tâche « {label} » ({_period_text(period)}) n'a encore jamais réussi."
        items.append(Late(f"job:{name}", text, last))

    count, oldest = db.session.execute(
        select(func.count(OutboxEmail.id), func.min(OutboxEmail.created_at))
        .where(OutboxEmail.status == EmailStatus.PENDING, OutboxEmail.created_at < at - EMAIL_LATE)).one()
    if count:
        items.append(Late("emails", f"{count} e-mail{'s' if count > 1 else ''} en attente depuis plus de "
                                    f"10 minutes (le plus ancien écrit le {_dt(oldest)}).", oldest))
    return items


def open_incidents() -> list[MonitorIncident]:
    return db.session.scalars(select(MonitorIncident).where(MonitorIncident.open_key.is_not(None))
                              .order_by(MonitorIncident.opened_at)).all()


def sync_incidents(at: datetime | None = None) -> tuple[list[MonitorIncident], list[MonitorIncident]]:
    """Open an incident (and e-mail every active admin_national once) for each
    late thing that has none, close those no longer late. Flushes, never
    commits: the incident and its e-mails are committed together by the
    caller, and a concurrent checker that opened it first makes the flush
    fail on ``open_key`` (the caller rolls back: nothing is sent twice)."""
    from ep_web.mail import queue_email

    at = at or now()
    current = {item.key: item for item in late_items(at)}
    opened_before = {i.open_key: i for i in open_incidents()}
    closed = []
    for key, incident in opened_before.items():
        if key not in current:
            incident.open_key = None
            incident.closed_at = at
            closed.append(incident)
    opened = []
    admins = None
    for key, item in current.items():
        if key in opened_before:
            continue
        incident = MonitorIncident(key=key, open_key=key, label=item.label, opened_at=at)
        db.session.add(incident)
        opened.append(incident)
        if admins is None:
            admins = db.session.scalars(select(Account).where(
                Account.profile == Profile.ADMIN_NATIONAL, Account.status == AccountStatus.ACTIVE,
                Account.email != "")).all()
        for admin in admins:
            queue_email(admin.email, "incident", f"Espace Partenaires : incident — {item.label[:150]}",
                        recipient=admin, label=item.label, when=_dt(at))
    db.session.flush()
    return opened, closed


def forget_old_heartbeats(at: datetime | None = None) -> int:
    at = at or now()
    return db.session.execute(
        WorkerHeartbeat.__table__.delete().where(WorkerHeartbeat.seen_at < at - HEARTBEAT_FORGET)).rowcount
