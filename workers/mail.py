"""Sending the outbox: at most once, retried with backoff, never lost.

The rule is **at most once**: an e-mail that may already have reached the
recipient is never sent again automatically. Activation and reset links,
alerts and reminders are better missing (visible, and resendable by a person)
than duplicated (two different links, a partner alerted twice).

- An outbox row is written in the same transaction as the change that causes
  it (``ep_web.mail.queue_email``, or the periodic jobs in bulk), and sent
  after the commit by ``send_email`` (RQ, or in-process without Redis).
- ``send_email`` first *claims* the row — ``pending → sending`` with
  ``claimed_at``, in its own committed transaction — and only the worker whose
  UPDATE matched talks to SMTP. Two workers, an RQ job and the periodic flush,
  or a job run twice: only one sends.
- SMTP failures before the message data was handed over (server down,
  connection refused, 4xx on MAIL/RCPT/DATA) are certain non-deliveries: the
  row goes back to ``pending`` with ``next_attempt_at`` = now + backoff (1 min,
  5 min, 25 min, 2 h, then every 6 h), and to ``failed`` after MAX_ATTEMPTS.
  A permanent refusal (5xx) is ``failed`` at once: retrying cannot help.
- A failure *after* the message data was sent (connection lost or timeout
  while waiting for the server's final answer) is ambiguous: the server may
  have queued it. The row is ``failed`` with "envoi incertain", never retried.
- A worker that dies between the claim and the end leaves the row in
  ``sending``. Nobody can tell whether SMTP accepted it, so after
  CLAIM_TIMEOUT (far longer than any send: SMTP_TIMEOUT is seconds) the
  periodic flush marks it ``failed`` "envoi interrompu, à vérifier" instead of
  sending it again. The same holds if the database is lost right after SMTP
  accepted the message.
- ``failed`` e-mails are listed to admin_national on the jobs page, with a
  "Renvoyer" action (``ep_web.domain.lifecycle.resend_failed_email``).
- ``flush_outbox`` (every few minutes) sends what is pending and due: e-mails
  whose RQ job could not be queued because Redis was down at commit time,
  retries whose backoff has elapsed.
"""
import logging
import smtplib
import time
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import or_, update

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail
from workers import app_context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_FACTOR = 5
BACKOFF_MAX = timedelta(hours=6)
CLAIM_TIMEOUT = timedelta(minutes=15)
FLUSH_BATCH = 500
FLUSH_BUDGET_S = 240  # real seconds of sending per flush run (runs every 5 minutes)

UNCERTAIN = "Envoi incertain : le serveur SMTP a peut-être accepté le message. Vérifiez avant de le renvoyer."
INTERRUPTED = ("Envoi interrompu (worker arrêté pendant l'envoi) : le message est peut-être parti. "
               "Vérifiez avant de le renvoyer.")


class Uncertain(Exception):
    """The message data went to the server but its final answer never came back."""


class Permanent(Exception):
    """The server refused for good (5xx)."""


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones."""
    return min(BACKOFF_FIRST * BACKOFF_FACTOR ** max(attempts - 1, 0), BACKOFF_MAX)


def _smtp_send(email: OutboxEmail) -> None:
    """The SMTP dialogue, step by step, so that we know whether a failure came
    before or after the message data was handed over."""
    from ep_web.mail import build_message

    cfg = current_app.config
    msg = build_message(email)
    sender = parseaddr(msg["From"])[1]
    smtp_cls = smtplib.SMTP_SSL if cfg["SMTP_SSL"] else smtplib.SMTP
    smtp = smtp_cls(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"])
    try:
        smtp.ehlo_or_helo_if_needed()
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
            smtp.ehlo()
        if cfg["SMTP_USER"]:
            smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
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
    finally:
        try:
            smtp.quit()
        except Exception:  # the message is accepted (or not) whatever QUIT says
            smtp.close()


def transmit(email: OutboxEmail) -> None:
    """Hand one message to SMTP, or to the local outbox folder without SMTP."""
    if current_app.config["SMTP_HOST"]:
        _smtp_send(email)
        return
    from ep_web.mail import deliver

    deliver(email)


def _claim(email_id: int) -> bool:
    t = now()
    claimed = db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.id == email_id, OutboxEmail.status == EmailStatus.PENDING,
               or_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.next_attempt_at <= t))
        .values(status=EmailStatus.SENDING, attempts=OutboxEmail.attempts + 1, claimed_at=t)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def send_email(email_id: int) -> bool:
    """Send one outbox e-mail, at most once (see the module docstring). True if
    this call sent it."""
    with app_context():
        if not _claim(email_id):
            return False
        email = db.session.get(OutboxEmail, email_id)  # expired by the claim's commit: loaded afresh
        try:
            transmit(email)
        except Uncertain as exc:
            log.error("e-mail %s: uncertain delivery, not retried: %s", email_id, exc)
            email.status = EmailStatus.FAILED
            email.last_error = f"{UNCERTAIN} ({exc})"[:2000]
        except Permanent as exc:
            log.error("e-mail %s refused for good: %s", email_id, exc)
            email.status = EmailStatus.FAILED
            email.last_error = f"Refus définitif du serveur SMTP : {exc}"[:2000]
        except Exception as exc:  # certainly not sent: retry later, or give up
            log.warning("e-mail %s not sent (attempt %s): %s", email_id, email.attempts, exc)
            email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            email.claimed_at = None
            if email.attempts >= MAX_ATTEMPTS:
                email.status = EmailStatus.FAILED
            else:
                email.status = EmailStatus.PENDING
                email.next_attempt_at = now() + backoff(email.attempts)
        else:
            email.status = EmailStatus.SENT
            email.sent_at = now()
            email.last_error = ""
            db.session.commit()
            return True
        db.session.commit()
        return False


def recover_interrupted() -> int:
    """Claims older than CLAIM_TIMEOUT belong to a dead worker: failed, to be
    checked by a person, never resent automatically (at most once)."""
    return db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.status == EmailStatus.SENDING,
               or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < now() - CLAIM_TIMEOUT))
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
            ids = db.session.scalars(
                db.select(OutboxEmail.id)
                .where(OutboxEmail.status == EmailStatus.PENDING,
                       or_(OutboxEmail.next_attempt_at.is_(None), OutboxEmail.next_attempt_at <= now()))
                .order_by(OutboxEmail.id)
                .limit(FLUSH_BATCH)
            ).all()
            db.session.commit()
            batch = sum(1 for i in ids if send_email(i))
            sent, tried = sent + batch, tried + len(ids)
            if len(ids) < FLUSH_BATCH or not batch:
                break
        return {"sent": sent, "not_sent": tried - sent, "interrupted": interrupted}


def flush_outbox() -> dict:
    """The periodic flush (journaled): the safety net when Redis or SMTP was down.
    Each e-mail is claimed and committed on its own (see send_email)."""
    from workers.journal import run_job

    return run_job("flush_outbox", send_pending, dispatch=False)
