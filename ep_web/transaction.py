"""The request commits once; e-mails queued during it leave only after the commit."""
from ep_web.extensions import db
from ep_web.jobs import enqueue
from ep_web.mail import PENDING_KEY


def commit() -> None:
    pending = db.session.info.pop(PENDING_KEY, [])
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for email_id in pending:
        enqueue("workers.mail.send_email", email_id)


def rollback() -> None:
    db.session.info.pop(PENDING_KEY, None)
    db.session.rollback()
