"""The request commits once; e-mails queued during it leave only after the commit."""
from ep_web.extensions import db
from ep_web.jobs import dispatch_emails
from ep_web.mail import PENDING_KEY


def commit() -> None:
    pending = db.session.info.pop(PENDING_KEY, [])
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    dispatch_emails(pending)


def rollback() -> None:
    db.session.info.pop(PENDING_KEY, None)
    db.session.rollback()
