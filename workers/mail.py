"""Sending the outbox: at most once, in batches, retried with backoff, never lost.

The rule is **at most once**: an e-mail that may already have reached the
recipient is never sent again automatically. Activation and reset links,
alerts and reminders are better missing (visible, and resendable by a person)
than duplicated (two different links, a partner alerted twice).

- An outbox row is written in the same transaction as the change that causes
  it (``ep_web.mail.queue_email``, or the periodic jobs in bulk). After the
  commit, the mail queue is kicked (``ep_web.jobs.kick_mail``): one ``drain``
  job, whoever committed and however many e-mails they wrote.
- A sending job first *claims* its e-mails — ``pending → sending`` with
  ``claimed_at``, up to MAIL_BATCH rows in one UPDATE (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL, so that two workers take different rows), in its own
  committed transaction — and only then talks to SMTP, over one connection for
  the whole batch. Two workers, a drain and the periodic flush, or a job run
  twice: each row is claimed by one of them only.
- Before a chunk of messages goes to SMTP their ``send_started_at`` is
  committed, together with the results of the previous chunk (one commit
  every MAIL_CHUNK messages or CHUNK_S seconds, not one per message: a commit
  costs more than sending a message).
- SMTP failures before the message data was handed over (server down,
  connection refused, 4xx on MAIL/RCPT/DATA) are certain non-deliveries: the
  row goes back to ``pending`` with ``next_attempt_at`` = now + backoff (1 min,
  5 min, 25 min, 2 h, then every 6 h), and to ``failed`` after MAX_ATTEMPTS. A
  drain job is scheduled on the mail queue for the first retry (RQ's
  scheduler, run by the workers): the retry does not wait for the periodic
  flush nor behind other jobs. A permanent refusal (5xx) is ``failed`` at once.
- A failure *after* the message data was sent (connection lost or timeout
  while waiting for the server's final answer) is ambiguous: the server may
  have queued it. The row is ``failed`` with "envoi incertain", never retried.
- A worker that dies during a batch leaves its rows in ``sending``. After
  CLAIM_TIMEOUT (far longer than a batch may last: BATCH_BUDGET_S, and RQ's job
  timeout) the periodic flush puts those it never started back to
  ``pending`` (certainly not sent) and marks those of the chunk in flight
  ``failed`` "envoi interrompu, à vérifier" instead of sending them again
  (some of them may have left: at most MAIL_CHUNK e-mails to check by hand).
- ``failed`` e-mails are listed to admin_national on the jobs page, with a
  "Renvoyer" action (``ep_web.domain.lifecycle.resend_failed_email``).
- ``flush_outbox`` (every few minutes) sends what is pending and due: e-mails
  whose kick could not reach Redis, retries whose job was lost.
"""
import logging
import os
import smtplib
import time
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import and_, or_, select, update

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail
from workers import app_context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_FACTOR = 5
BACKOFF_MAX = timedelta(hours=6)
# Longer than any live claim can last: a batch starts no message after
# BATCH_BUDGET_S, one message takes a few SMTP_TIMEOUTs at most, and RQ kills a
# drain job after DRAIN_TIMEOUT_S (+60 s for a stuck one).
# A job starts no new message after this many seconds: what it claimed and did
# not start goes back to pending at once and a successor is kicked.
BATCH_BUDGET_S = 60
# EP_MAIL_CLAIM_TIMEOUT_S: shorter for the fault campaign (bench/faults.py);
# never below 90 s, or a slow live batch could be taken for a dead one.
CLAIM_TIMEOUT = timedelta(seconds=max(int(os.environ.get("EP_MAIL_CLAIM_TIMEOUT_S") or 300), 90))
DRAIN_TIMEOUT_S = 180
DRAIN_LOOP_S = 30
# Results are committed every MAIL_CHUNK messages (setting) or CHUNK_S seconds (see send_claimed).
CHUNK_S = 0.5
FLUSH_BATCH = 500
FLUSH_BUDGET_S = 240  # real seconds of sending per flush run (runs every 5 minutes)

UNCERTAIN = "Envoi incertain : le serveur SMTP a peut-être accepté le message. Vérifiez avant de le renvoyer."
INTERRUPTED = ("Envoi interrompu (worker arrêté pendant l'envoi) : le message est peut-être parti. "
               "Vérifiez avant de le renvoyer.")


class Uncertain(Exception):
    """The message data went to the server but its final answer never came back."""


class Permanent(Exception):
    """The server refused for good (5xx)."""


class Unreachable(Exception):
    """No SMTP session could be opened: nothing of the batch can go now."""


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones."""
    return min(BACKOFF_FIRST * BACKOFF_FACTOR ** max(attempts - 1, 0), BACKOFF_MAX)


class Transport:
    """One SMTP session for a batch (opened on the first message, reopened
    after a failure), or the local outbox folder when no SMTP host is set."""

    def __init__(self, config):
        self.cfg = config
        self.smtp = None

    def _open(self):
        cfg = self.cfg
        smtp_cls = smtplib.SMTP_SSL if cfg["SMTP_SSL"] else smtplib.SMTP
        try:
            smtp = smtp_cls(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"])
            smtp.ehlo_or_helo_if_needed()
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls()
                smtp.ehlo()
            if cfg["SMTP_USER"]:
                smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
        except Exception as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        return smtp

    def send(self, email: OutboxEmail) -> None:
        from ep_web.mail import build_message, deliver

        if not self.cfg["SMTP_HOST"]:
            deliver(email)
            return
        if self.smtp is None:
            self.smtp = self._open()
        try:
            self._dialogue(self.smtp, email, build_message(email))
        except Exception:
            self.close()  # the session's state is unknown: the next message opens a new one
            raise

    @staticmethod
    def _dialogue(smtp, email, msg) -> None:
        """The SMTP dialogue of one message, step by step, so that we know
        whether a failure came before or after the message data was handed over."""
        sender = parseaddr(msg["From"])[1]
        # The bodies are UTF-8 in 8 bits: say so where the server knows how (RFC 6152).
        code, resp = smtp.mail(sender, ["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else [])
        if code != 250:
            raise (Permanent if code >= 500 else smtplib.SMTPSenderRefused)(code, resp, sender)
        code, resp = smtp.rcpt(email.to)
        if code not in (250, 251):
            if code >= 500:
                raise Permanent(code, resp, email.to)
            raise smtplib.SMTPRecipientsRefused({email.to: (code, resp)})
        payload = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        try:
            smtp.data(payload)
        except smtplib.SMTPDataError as exc:  # the server answered "no": certainly not accepted
            if exc.smtp_code >= 500:
                raise Permanent(exc.smtp_code, exc.smtp_error) from exc
            raise
        except Exception as exc:  # no final answer: maybe accepted
            raise Uncertain(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            smtp.quit()
        except Exception:  # the messages are accepted (or not) whatever QUIT says
            smtp.close()


def _due(t):
    return and_(OutboxEmail.status == EmailStatus.PENDING,
                or_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.next_attempt_at <= t))


def claim(limit: int, ids: list[int] | None = None) -> list[int]:
    """Claim up to ``limit`` due e-mails (of ``ids`` when given), oldest
    first, and commit the claim before anything is sent."""
    t = now()
    chosen = select(OutboxEmail.id).where(_due(t))
    if ids is not None:
        chosen = chosen.where(OutboxEmail.id.in_(ids))
    # SKIP LOCKED: a second worker takes the next rows instead of waiting for
    # these (ignored by SQLite, whose writers take turns anyway).
    chosen = chosen.order_by(OutboxEmail.id).limit(limit).with_for_update(skip_locked=True)
    claimed = db.session.scalars(
        update(OutboxEmail)
        .where(OutboxEmail.id.in_(chosen.scalar_subquery()), _due(t))
        .values(status=EmailStatus.SENDING, attempts=OutboxEmail.attempts + 1, claimed_at=t,
                send_started_at=None)
        .returning(OutboxEmail.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(claimed)


class _Row:
    """What sending needs of an outbox row, read once (no ORM object to reload
    after each commit); ``build_message`` and ``deliver`` read these names."""

    __slots__ = ("id", "to", "subject", "body_text", "body_html", "attempts")

    def __init__(self, row):
        for name in self.__slots__:
            setattr(self, name, getattr(row, name))


def _retry_or_fail(email: _Row, error: str) -> dict:
    values = {"id": email.id, "last_error": error[:2000], "claimed_at": None, "send_started_at": None}
    if email.attempts >= MAX_ATTEMPTS:
        values["status"] = EmailStatus.FAILED
    else:
        values["status"] = EmailStatus.PENDING
        values["next_attempt_at"] = now() + backoff(email.attempts)
    return values


def _release(email: _Row) -> dict:
    """Claimed, never started, and we are alive: back to pending, no try spent."""
    return {"id": email.id, "status": EmailStatus.PENDING, "attempts": max(email.attempts - 1, 0),
            "claimed_at": None, "send_started_at": None}


def _record(sent: list[int], others: list[dict], start_next: list[int]) -> None:
    """One commit: the results so far, and the start mark of the next chunk."""
    t = now()
    if sent:
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id.in_(sent))
                           .values(status=EmailStatus.SENT, sent_at=t, last_error="")
                           .execution_options(synchronize_session=False))
    for values in others:  # failures are rare: one statement each
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id == values["id"])
                           .values(**{k: v for k, v in values.items() if k != "id"})
                           .execution_options(synchronize_session=False))
    if start_next:
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id.in_(start_next)).values(send_started_at=t)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    sent.clear()
    others.clear()


def send_claimed(ids: list[int]) -> dict:
    """Send e-mails this process claimed, over one SMTP session. Returns counts
    (and schedules the first retry when some must be tried again).

    Results are committed by chunks of at most MAIL_CHUNK messages or CHUNK_S
    seconds (a commit per message would cost more than the message itself),
    and a chunk is marked started before its first message goes: if the
    worker dies, the rows of the chunk in flight are "envoi interrompu" (maybe
    sent), the later ones go back to pending (certainly not sent)."""
    counts = {"sent": 0, "retry": 0, "failed": 0, "released": 0}
    if not ids:
        return counts
    rows = db.session.execute(select(OutboxEmail.id, OutboxEmail.to, OutboxEmail.subject, OutboxEmail.body_text,
                                     OutboxEmail.body_html, OutboxEmail.attempts)
                              .where(OutboxEmail.id.in_(ids)).order_by(OutboxEmail.id)).all()
    emails = [_Row(r) for r in rows]
    chunk = max(current_app.config["MAIL_CHUNK"], 1)
    transport = Transport(current_app.config)
    started = time.monotonic()
    unreachable = None
    retry_at = None
    sent, others = [], []
    chunk_end = 0  # emails[:chunk_end] are marked started
    chunk_at = 0.0
    try:
        for i, email in enumerate(emails):
            if unreachable is not None:
                # The server could not be reached for the previous message: no
                # point waiting SMTP_TIMEOUT for each of the others.
                others.append(_retry_or_fail(email, unreachable))
            elif time.monotonic() - started > BATCH_BUDGET_S:
                others.append(_release(email))
                counts["released"] += 1
                continue
            else:
                if i >= chunk_end or time.monotonic() - chunk_at > CHUNK_S:
                    chunk_end = max(chunk_end, min(i + chunk, len(emails)))
                    _record(sent, others, [e.id for e in emails[i:chunk_end]])
                    chunk_at = time.monotonic()
                try:
                    transport.send(email)
                except Uncertain as exc:
                    log.error("e-mail %s: uncertain delivery, not retried: %s", email.id, exc)
                    others.append({"id": email.id, "status": EmailStatus.FAILED,
                                   "last_error": f"{UNCERTAIN} ({exc})"[:2000]})
                except Permanent as exc:
                    log.error("e-mail %s refused for good: %s", email.id, exc)
                    others.append({"id": email.id, "status": EmailStatus.FAILED,
                                   "last_error": f"Refus définitif du serveur SMTP : {exc}"[:2000]})
                except Unreachable as exc:
                    log.warning("SMTP unreachable, e-mail %s not sent (attempt %s): %s", email.id, email.attempts, exc)
                    unreachable = f"Serveur SMTP injoignable : {exc}"
                    others.append(_retry_or_fail(email, unreachable))
                except Exception as exc:  # certainly not sent: retry later, or give up
                    log.warning("e-mail %s not sent (attempt %s): %s", email.id, email.attempts, exc)
                    others.append(_retry_or_fail(email, f"{type(exc).__name__}: {exc}"))
                else:
                    sent.append(email.id)
                    counts["sent"] += 1
                    continue
            outcome = others[-1]
            if outcome["status"] == EmailStatus.FAILED:
                counts["failed"] += 1
            else:
                counts["retry"] += 1
                retry_at = min(filter(None, (retry_at, outcome.get("next_attempt_at"))))
        _record(sent, others, [])
    finally:
        transport.close()
    from ep_web.jobs import kick_mail, schedule_mail_retry

    if counts["released"]:
        kick_mail()
    if retry_at is not None and current_app.config["REDIS_URL"]:
        schedule_mail_retry(max(retry_at - now(), timedelta(seconds=1)))
    return counts


def send_emails(email_ids: list[int]) -> dict:
    """Send these outbox e-mails now if they are still pending and due (the
    in-process dispatch after a commit, and tests)."""
    with app_context():
        return send_claimed(claim(len(email_ids), email_ids))


def send_email(email_id: int) -> bool:
    """Send one outbox e-mail, at most once. True if this call sent it."""
    return send_emails([email_id])["sent"] == 1


def drain() -> dict:
    """The mail queue's job: claim a batch of due e-mails and send it, and
    again while there are some (for at most DRAIN_LOOP_S: under steady load
    one job keeps sending, without a fork and RQ's bookkeeping per batch).
    When a batch is full, a successor is kicked first, so that a second
    worker (if one is free) sends the next batch meanwhile."""
    from ep_web.jobs import kick_key, kick_mail, redis_connection

    totals = {"sent": 0, "retry": 0, "failed": 0, "released": 0}
    with app_context() as app:
        batch = max(app.config["MAIL_BATCH"], 1)
        started = time.monotonic()
        while time.monotonic() - started < DRAIN_LOOP_S:
            if app.config["REDIS_URL"]:
                try:
                    # Forgotten before each claim: a commit from now on kicks a
                    # new job, and anything committed before is in this claim.
                    redis_connection().delete(kick_key())
                except Exception:
                    log.warning("could not clear the mail kick", exc_info=True)
            ids = claim(batch)
            if not ids:
                break
            if len(ids) == batch:
                kick_mail()
            for key, value in send_claimed(ids).items():
                totals[key] += value
            if totals["retry"] and not totals["sent"]:
                break  # SMTP is down: the scheduled retry takes over
        return totals


def recover_interrupted() -> int:
    """Claims older than CLAIM_TIMEOUT belong to a dead worker. Rows it never
    started go back to pending; the one it had started is failed, to be
    checked by a person, never resent automatically (at most once)."""
    stale = and_(OutboxEmail.status == EmailStatus.SENDING,
                 or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < now() - CLAIM_TIMEOUT))
    db.session.execute(
        update(OutboxEmail)
        .where(stale, OutboxEmail.send_started_at.is_(None), OutboxEmail.claimed_at.is_not(None))
        .values(status=EmailStatus.PENDING, claimed_at=None, attempts=OutboxEmail.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    return db.session.execute(
        update(OutboxEmail)
        .where(stale)
        .values(status=EmailStatus.FAILED, last_error=INTERRUPTED)
        .execution_options(synchronize_session=False)
    ).rowcount


def send_pending() -> dict:
    """Send the pending e-mails that are due, oldest first, FLUSH_BATCH at a
    time until none is left or FLUSH_BUDGET_S seconds have gone (the next
    flush goes on: a backlog after an outage drains without one job running
    past RQ's timeout)."""
    with app_context():
        interrupted = recover_interrupted()
        db.session.commit()
        started = time.monotonic()
        sent = tried = 0
        while time.monotonic() - started < FLUSH_BUDGET_S:
            ids = claim(FLUSH_BATCH)
            counts = send_claimed(ids)
            sent, tried = sent + counts["sent"], tried + len(ids) - counts["released"]
            if len(ids) < FLUSH_BATCH or not counts["sent"]:
                break
        return {"sent": sent, "not_sent": tried - sent, "interrupted": interrupted}


def flush_outbox() -> dict:
    """The periodic flush (journaled): the safety net when Redis or SMTP was down."""
    from workers.journal import run_job

    return run_job("flush_outbox", send_pending, dispatch=False)
