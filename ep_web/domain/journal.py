"""What national support reads about the periodic jobs and the outbox: the
rules that apply by themselves (SPEC §3, §4, §7, run by ``workers/``) and the
e-mails that leave after each commit (SPEC §4, §6)."""
from dataclasses import dataclass

from sqlalchemy import func, select

from ep_web.extensions import db
from ep_web.models import EmailStatus, JobRun, OutboxEmail

RUNS_SHOWN = 50
FAILED_SHOWN = 100


@dataclass
class JobsOverview:
    latest: dict[str, JobRun]  # each job's last run, by job name
    runs: list[JobRun]  # the last runs, newest first
    outbox_counts: dict[str, int]  # e-mails by status value
    failed: list[OutboxEmail]  # the e-mails given up on, newest first


def jobs_overview(job: str = "") -> JobsOverview:
    """The jobs page (SPEC §3, §7: rules that apply by themselves; SPEC §4, §6:
    e-mails): did every periodic rule run, and did every e-mail leave? ``job``
    keeps the last runs of that job only."""
    latest_ids = select(func.max(JobRun.id)).group_by(JobRun.name)
    latest = {r.name: r for r in db.session.scalars(select(JobRun).where(JobRun.id.in_(latest_ids)))}
    q = select(JobRun).order_by(JobRun.id.desc()).limit(RUNS_SHOWN)
    if job:
        q = q.where(JobRun.name == job)
    by_status = db.session.execute(
        select(OutboxEmail.status, func.count(OutboxEmail.id)).group_by(OutboxEmail.status)).all()
    failed = db.session.scalars(
        select(OutboxEmail).where(OutboxEmail.status == EmailStatus.FAILED)
        .order_by(OutboxEmail.id.desc()).limit(FAILED_SHOWN))
    return JobsOverview(latest=latest, runs=list(db.session.scalars(q)),
                        outbox_counts={EmailStatus(k).value: v for k, v in by_status}, failed=list(failed))
