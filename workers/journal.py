"""The job journal: every run of a periodic job writes a JobRun (start, end,
counts, errors, duration), shown to admin_national on /national/taches.

``run_job`` is the one place where a periodic job commits:

1. a JobRun row "running" is committed first, so a run that dies (killed
   worker, lost machine) stays visible; the next run of the same job marks it
   "interrupted";
2. the job's work (a domain function that flushes, never commits) is committed
   once, together with its audit events and the outbox rows of its e-mails —
   the change and its e-mails exist together or not at all;
3. the JobRun is closed with the counts, or with the error after a rollback;
4. after the commit, the e-mails written are dispatched: the mail queue is
   kicked (RQ), or ``flush_outbox`` runs in-process without Redis; if Redis is
   down the next periodic flush sends them.

One run of a job at a time, whatever the number of schedulers and workers
(two schedulers during a failover, a job queued twice, a slow run overtaken by
the next period): on PostgreSQL the whole run holds an advisory lock named
after the job (``exclusive``); a run that finds it taken is skipped, journals
nothing and returns ``{"skipped": 1}`` (the run in progress does the work).
"""
import logging
import time
import traceback
import zlib
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import text, update

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.mail import PENDING_KEY
from ep_web.models import JobRun
from workers import app_context

log = logging.getLogger(__name__)
# A run still "running" after this long is a dead run (no job takes minutes).
INTERRUPTED_AFTER = timedelta(hours=1)


def _close_interrupted(name: str) -> int:
    count = db.session.execute(
        update(JobRun)
        .where(JobRun.name == name, JobRun.status == "running", JobRun.started_at < now() - INTERRUPTED_AFTER)
        .values(status="interrupted", finished_at=now(),
                error="Exécution interrompue (worker arrêté avant la fin) : la suivante a repris le travail.")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return count


# First key of the two-key advisory locks taken here ("EP"), so that they
# cannot meet another application's locks in the same database.
LOCK_CLASS = 0x4550
SKIPPED = {"skipped": 1}


def lock_key(name: str) -> int:
    """A stable signed 32-bit key for a job name (the second advisory lock key)."""
    return zlib.crc32(name.encode()) - (1 << 31)


@contextmanager
def exclusive(name: str):
    """Yield True when this process may run the job ``name`` now, False when
    another run of it holds the lock. PostgreSQL: ``pg_try_advisory_xact_lock``
    on a connection of its own (not the job's session, which commits several
    times), in a transaction kept open for the whole run and rolled back at the
    end; a process that dies loses its connection, and the lock with it.
    SQLite (one machine, development): always True."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    with db.engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:c, :k)"),
                           {"c": LOCK_CLASS, "k": lock_key(name)}).scalar()
        try:
            yield bool(got)
        finally:
            conn.rollback()


def run_job(name: str, work, *, dispatch: bool = True) -> dict:
    """Run ``work()`` (returns a dict of counts) as the periodic job ``name``,
    unless another run of it is in progress (then ``{"skipped": 1}``)."""
    with app_context(), exclusive(name) as mine:
        if not mine:
            log.info("periodic job %s already running elsewhere: skipped", name)
            return dict(SKIPPED)
        return _run_job(name, work, dispatch)


def _run_job(name: str, work, dispatch: bool) -> dict:
    db.session.rollback()  # start clean: nothing of a caller's half-done work is committed here
    _close_interrupted(name)
    run = JobRun(name=name, started_at=now(), status="running", counts={})
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    started = time.perf_counter()
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            # These are short set-based statements over big tables: when the
            # planner over-estimates their cost, PostgreSQL's JIT compilation
            # costs more (0.3-0.5 s per statement, measured by bench/sweep.py)
            # than the statement itself. For this transaction only.
            db.session.execute(text("SET LOCAL jit = off"))
        counts = dict(work() or {})
        pending = db.session.info.pop(PENDING_KEY, [])
        db.session.commit()
    except Exception as exc:
        db.session.info.pop(PENDING_KEY, None)
        db.session.rollback()
        log.exception("periodic job %s failed", name)
        run = db.session.get(JobRun, run_id)
        run.status = "failed"
        run.finished_at = now()
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.error = (f"{type(exc).__name__}: {exc}\n\n" + traceback.format_exc())[-4000:]
        db.session.commit()
        raise
    run = db.session.get(JobRun, run_id)
    run.status = "ok"
    run.finished_at = now()
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.counts = counts
    db.session.commit()
    if dispatch and (pending or counts.get("emails")):
        from flask import current_app

        from ep_web.jobs import enqueue, kick_mail

        if current_app.config["REDIS_URL"]:
            kick_mail()
        else:
            enqueue("workers.mail.flush_outbox")
    return counts
