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

from flask import current_app, render_template

from ep_web.extensions import db
from ep_web.models import OutboxEmail

PENDING_KEY = "ep_outbox_pending"


def queue_email(to: str, template: str, subject: str, **context) -> OutboxEmail:
    """Write an e-mail row in the current transaction; it is dispatched once the
    transaction commits (see ``ep_web.transaction.commit``)."""
    context.setdefault("base_url", current_app.config["BASE_URL"].rstrip("/"))
    context.setdefault("subject", subject)
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    email = OutboxEmail(to=to, subject=subject, body_text=text, body_html=html, template=template)
    db.session.add(email)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(email.id)
    return email


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
