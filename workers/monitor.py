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
