"""Antivirus jobs (SPEC §4 attachments, §8): the files stored ``en_attente``
because clamd was slow or down at upload are scanned here."""
from ep_web.domain import filescan
from ep_web.models import ScanStatus
from workers import app_context
from workers.journal import run_job


def scan_attachments(attachment_ids: list[int]) -> dict:
    """Queued after the commit of an upload whose scan could not be done
    (ids, never objects). A file still waiting after this run (clamd still
    down) is taken by ``scan_pending_files`` later."""
    from ep_web.transaction import commit, rollback

    with app_context():
        rollback()
        query = filescan.selection(ids=attachment_ids, statuses=[ScanStatus.EN_ATTENTE])
        report = filescan.scan_files(query, commit=commit)
        commit()
        return report.as_counts()


def scan_pending_files() -> dict:
    """Every few minutes: the files still waiting for their scan (journaled)."""
    return run_job("scan_pending_files", lambda: filescan.scan_pending().as_counts())
