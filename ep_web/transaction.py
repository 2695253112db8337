"""The request commits once; e-mails queued during it leave only after the
commit, and so do the antivirus scans of files clamd could not scan at upload."""
from sqlalchemy import event
from sqlalchemy.orm import Session

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


WROTE = "ep_wrote"


def wrote() -> bool:
    """Has the session written anything (a flush, or an INSERT, UPDATE or
    DELETE) since read_point()? What was read then — the bell's count, read
    with the user (ep_web.domain.sessions.load) — holds until it does."""
    return db.session.info.get(WROTE, True)


def read_point() -> None:
    """What the session reads now sees every write made so far: wrote() is
    False until the next one."""
    db.session.info[WROTE] = False


@event.listens_for(Session, "after_flush")
def _flushed(session, flush_context) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state) -> None:
    if not state.is_select:
        state.session.info[WROTE] = True
