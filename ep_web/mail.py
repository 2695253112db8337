"""E-mails: built from paired templates (``templates/email/<name>.txt`` and
``.html``), written to the outbox table in the caller's transaction, and sent
after commit by a job (RQ, or in-process when no Redis is configured).

No e-mail may carry personal data of an insured person (SPEC §8): templates
receive account data and links only.
"""
import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app
from sqlalchemy import insert

from ep_web.extensions import db
from ep_web.models import OutboxEmail

PENDING_KEY = "ep_outbox_pending"


def render_email(to: str, template: str, subject: str, **context) -> dict:
    """The columns of one outbox row, rendered from the paired templates.

    Straight from the Jinja environment, without the request's context
    processors: an e-mail knows only what it is given (plus ``base_url`` and
    ``subject``), whether a request or a nightly job writes it — and a
    catch-up run of a job may render tens of thousands."""
    env = current_app.jinja_env
    context.setdefault("base_url", current_app.config["BASE_URL"].rstrip("/"))
    context.setdefault("subject", subject)
    return {
        "to": to,
        "subject": subject,
        "body_text": env.get_template(f"email/{template}.txt").render(context),
        "body_html": env.get_template(f"email/{template}.html").render(context),
        "template": template,
    }


def queue_email(to: str, template: str, subject: str, **context) -> OutboxEmail:
    """Write an e-mail row in the current transaction; it is dispatched once the
    transaction commits (see ``ep_web.transaction.commit``). The set-based jobs
    insert the same rows in bulk (ep_web.domain.lifecycle)."""
    email = OutboxEmail(**render_email(to, template, subject, **context))
    db.session.add(email)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(email.id)
    return email


def write_emails(rows, batch_size: int = 500) -> int:
    """Insert outbox rows (an iterable of :func:`render_email` results, rendered
    lazily) in the current transaction, ``batch_size`` at a time so that memory
    stays flat however many there are: the set-based jobs' way of queuing. They
    are sent once the job has committed (workers.journal flushes the outbox)."""
    written, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            db.session.execute(insert(OutboxEmail), batch)
            written, batch = written + len(batch), []
    if batch:
        db.session.execute(insert(OutboxEmail), batch)
        written += len(batch)
    return written


def build_message(email: OutboxEmail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_FROM"]
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Message-ID"] = make_msgid(idstring=f"ep{email.id}")
    msg.set_content(email.body_text)
    if email.body_html:
        msg.add_alternative(email.body_html, subtype="html")
    return msg


def deliver(email: OutboxEmail) -> None:
    """Hand one message to SMTP, or to the local outbox folder when no SMTP host is set."""
    cfg = current_app.config
    msg = build_message(email)
    if cfg["SMTP_HOST"]:
        smtp_cls = smtplib.SMTP_SSL if cfg["SMTP_SSL"] else smtplib.SMTP
        with smtp_cls(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"]) as smtp:
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls()
            if cfg["SMTP_USER"]:
                smtp.login(cfg["SMTP_USER"], cfg["SMTP_PASSWORD"])
            smtp.send_message(msg)
        return
    folder = Path(cfg["MAIL_OUTBOX_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{email.id:08d}.eml").write_bytes(bytes(msg))
    if cfg["MAIL_PRINT"]:
        print(
            f"\n--- e-mail #{email.id} à {email.to} : {email.subject}\n{email.body_text}\n--- fin de l'e-mail\n",
            file=sys.stderr,
            flush=True,
        )
