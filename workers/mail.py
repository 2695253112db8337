"""Sending the outbox."""
import logging

from sqlalchemy import update

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models import EmailStatus, OutboxEmail
from workers import app_context

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def send_email(email_id: int) -> bool:
    """Send one outbox e-mail, at most once: the row is claimed (pending → sending)
    in its own committed transaction before SMTP is called."""
    with app_context():
        claimed = db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == email_id, OutboxEmail.status == EmailStatus.PENDING)
            .values(status=EmailStatus.SENDING, attempts=OutboxEmail.attempts + 1)
        ).rowcount
        db.session.commit()
        if not claimed:
            return False
        email = db.session.get(OutboxEmail, email_id)
        from ep_web.mail import deliver

        try:
            deliver(email)
        except Exception as exc:  # SMTP down: back to pending, or failed after the last try
            log.warning("e-mail %s not sent: %s", email_id, exc)
            email.status = EmailStatus.FAILED if email.attempts >= MAX_ATTEMPTS else EmailStatus.PENDING
            email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            db.session.commit()
            return False
        email.status = EmailStatus.SENT
        email.sent_at = now()
        email.last_error = ""
        db.session.commit()
        return True


def flush_outbox() -> int:
    """Send every pending e-mail (periodic safety net when Redis or SMTP was down)."""
    with app_context():
        ids = db.session.scalars(
            db.select(OutboxEmail.id).where(OutboxEmail.status == EmailStatus.PENDING).order_by(OutboxEmail.id)
        ).all()
        return sum(1 for i in ids if send_email(i))
