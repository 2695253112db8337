"""The request commits once; e-mails queued during it leave only after the
commit, and so do the antivirus scans of files clamd could not scan at upload."""
from ep_web.extensions import db
from ep_web.jobs import dispatch_emails, dispatch_scans
from ep_web.mail import PENDING_KEY

PENDING_SCANS = "ep_pending_scans"  # ep_web.domain.attachments.store fills it


def commit() -> None:
    pending = db.session.info.pop(PENDING_KEY, [])
    scans = db.session.info.pop(PENDING_SCANS, [])
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    dispatch_emails(pending)
    dispatch_scans(scans)


def rollback() -> None:
    db.session.info.pop(PENDING_KEY, None)
    db.session.info.pop(PENDING_SCANS, None)
    db.session.rollback()
