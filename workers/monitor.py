"""The monitoring check (ep_web.domain.monitoring), run every minute by the
scheduler and by every worker (whoever is still alive raises the alarm about
the others). Its e-mails are sent by the checking process itself, at once:
when the workers are the ones that are down, nobody else would send them."""
import logging

from sqlalchemy.exc import IntegrityError

from ep_web.domain import monitoring
from ep_web.extensions import db
from ep_web.mail import PENDING_KEY
from workers import app_context

log = logging.getLogger(__name__)


def check_health() -> dict:
    with app_context():
        db.session.rollback()
        _recover_dead_claims()
        try:
            opened, closed = monitoring.sync_incidents()
            monitoring.forget_old_heartbeats()
            pending = db.session.info.pop(PENDING_KEY, [])
            db.session.commit()
        except IntegrityError:  # another checker opened the same incident first: it e-mails
            db.session.info.pop(PENDING_KEY, None)
            db.session.rollback()
            return {"opened": 0, "closed": 0}
        except Exception:
            db.session.info.pop(PENDING_KEY, None)
            db.session.rollback()
            raise
        for incident in opened:
            log.error("incident opened: %s", incident.label)
        for incident in closed:
            log.warning("incident closed: %s", incident.label)
        if pending:
            from workers.mail import send_emails

            send_emails(pending)
        return {"opened": len(opened), "closed": len(closed)}


def _recover_dead_claims() -> None:
    """E-mails claimed by a process of this host that died (workers.mail):
    back to pending at once, and the mail queue kicked, instead of waiting
    for the claim timeout. In a transaction of its own: an incident race
    below must not undo it."""
    from workers.mail import recover_dead_claims

    try:
        recovered = recover_dead_claims()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.warning("could not recover the claims of dead processes", exc_info=True)
        return
    if recovered["released"]:
        from flask import current_app

        from ep_web.jobs import enqueue, kick_mail

        if current_app.config["REDIS_URL"]:
            kick_mail()
        else:
            enqueue("workers.mail.flush_outbox")
