"""Scanning stored files (SPEC §4 attachments, §8 "production refuses to
start without antivirus unless unscanned files are explicitly allowed").

At upload, ``attachments.validate_uploads`` asks clamd with a short timeout.
When clamd is slow or down the file is stored ``en_attente`` and scanned here
later: by the job queued after the commit (RQ), by the periodic job
``scan_pending_files``, and by ``flask ep rescan`` after a signature update.
A file found infected is never served again; its uploader and the caisse are
e-mailed (the reference of the demande or ticket and a link: no file name,
which may name the insured person) and the event is audited.

Functions flush, never commit (the caller does, once per batch).
"""
import logging
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import or_, select

from ep_web.clamav import Clamd, ClamdError
from ep_web.clock import now
from ep_web.domain import audit
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import Attachment, Demande, ScanStatus, Ticket

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class ScanReport:
    scanned: int = 0
    clean: int = 0
    infected: list = field(default_factory=list)  # attachment ids newly found infected
    missing: int = 0  # rows whose file is gone (purged)
    error: str = ""  # clamd failed: the remaining files are left as they were

    def as_counts(self) -> dict:
        counts = {"scanned": self.scanned, "clean": self.clean, "infected": len(self.infected),
                  "missing": self.missing}
        if self.error:
            counts["error"] = self.error
        return counts


def scanner() -> Clamd | None:
    """The configured clamd with the background timeout (``CLAMD_TIMEOUT``)."""
    return Clamd.from_config(current_app.config)


def selection(*, ids=None, statuses=None, scanned_before: datetime | None = None):
    """The attachment ids to scan, oldest first. ``scanned_before`` keeps the
    files never scanned and those scanned before that time."""
    query = select(Attachment.id).order_by(Attachment.id)
    if ids is not None:
        query = query.where(Attachment.id.in_(list(ids)))
    if statuses:
        query = query.where(Attachment.scan_status.in_(list(statuses)))
    if scanned_before is not None:
        query = query.where(or_(Attachment.scanned_at.is_(None), Attachment.scanned_at < scanned_before))
    return query


def scan_one(attachment: Attachment, clamd: Clamd, report: ScanReport) -> None:
    """Scan one stored file and record its state (raises ClamdError when clamd
    cannot answer: the state is left as it was)."""
    from ep_web.domain.attachments import open_for_download

    try:
        data, _, _, _ = open_for_download(attachment)
    except (FileNotFoundError, ValueError):
        report.missing += 1
        return
    with data:
        signature = clamd.scan(data)
    report.scanned += 1
    attachment.scanned_at = now()
    if signature is None:
        report.clean += 1
        attachment.scan_status = ScanStatus.SAIN
        attachment.scan_signature = ""
        return
    was_infected = attachment.scan_status == ScanStatus.INFECTE
    attachment.scan_status = ScanStatus.INFECTE
    attachment.scan_signature = signature.removesuffix(".UNOFFICIAL")[:200]
    if not was_infected:
        report.infected.append(attachment.id)
        _infected(attachment)


def _infected(attachment: Attachment) -> None:
    """Tell the uploader and the caisse, audit it (SPEC §7). The e-mail names
    the demande or ticket by its reference only."""
    log.warning("virus trouvé dans un fichier stocké : pièce %s, %s (sha256 %s)", attachment.id,
                attachment.scan_signature, attachment.sha256)
    if attachment.demande_id is not None:
        owner = db.session.get(Demande, attachment.demande_id)
        kind = "demande"
    else:
        owner = db.session.get(Ticket, attachment.ticket_id)
        kind = "ticket"
    caisse = owner.caisse
    uploader = attachment.uploaded_by
    audit.record("file_infected", None, target=attachment, caisse_id=owner.caisse_id,
                 partenaire_id=owner.partenaire_id, reference=owner.reference,
                 signature=attachment.scan_signature, attachment_id=attachment.id)
    subject = f"Fichier bloqué par l'antivirus ({owner.reference})"
    recipients = []
    if uploader is not None and uploader.email:
        recipients.append((uploader.email, "uploader"))
    if caisse.referent_email and caisse.referent_email not in {r for r, _ in recipients}:
        recipients.append((caisse.referent_email, "caisse"))
    for to, role in recipients:
        queue_email(to, "file_infected", subject, kind=kind, reference=owner.reference,
                    path=_owner_path(kind, owner, role, uploader), role=role,
                    uploaded_at=attachment.created_at)


def _owner_path(kind: str, owner, role: str, uploader) -> str:
    """The page of the demande or ticket for this recipient (a relative path)."""
    from ep_web.models import Profile

    caisse_side = role == "caisse" or (uploader is not None and uploader.profile in {
        Profile.AGENT, Profile.ADMIN_CAISSE})
    if kind == "demande":
        return f"/traitement/demandes/{owner.id}" if caisse_side else f"/demandes/{owner.id}"
    return f"/caisse/tickets/{owner.id}" if caisse_side else f"/tickets/{owner.id}"


def scan_files(query, *, clamd: Clamd | None = None, commit=None) -> ScanReport:
    """Scan the attachments the query selects, ``BATCH`` at a time, calling
    ``commit()`` after each batch when given (a long rescan keeps its
    progress). Stops at the first clamd failure (``report.error``): the
    remaining files keep their state for the next run."""
    report = ScanReport()
    clamd = clamd or scanner()
    if clamd is None:
        report.error = "aucun antivirus configuré (EP_CLAMD_SOCKET ou EP_CLAMD_ADDRESS)"
        return report
    ids = list(db.session.scalars(query))
    for start in range(0, len(ids), BATCH):
        batch = db.session.scalars(select(Attachment).where(Attachment.id.in_(ids[start:start + BATCH]))
                                   .order_by(Attachment.id)).all()
        for attachment in batch:
            try:
                scan_one(attachment, clamd, report)
            except ClamdError as exc:
                log.warning("analyse antivirus interrompue : %s", exc)
                report.error = str(exc)
                break
        db.session.flush()
        if commit is not None:
            commit()
        if report.error:
            break
    return report


PENDING_BATCH = 500


def scan_pending() -> ScanReport:
    """The files waiting ``en_attente`` (clamd was slow or down at upload),
    and, once a clamd is configured, the ``non_analyse`` ones (stored without
    antivirus, or before scan states existed): the deployment heals itself
    without waiting for ``flask ep rescan``. At most ``PENDING_BATCH`` per
    run, oldest first. Nothing waiting, nothing to say (even without clamd)."""
    statuses = [ScanStatus.EN_ATTENTE]
    if scanner() is not None:
        statuses.append(ScanStatus.NON_ANALYSE)
    query = selection(statuses=statuses)
    if db.session.scalar(query.limit(1)) is None:
        return ScanReport()
    return scan_files(query.limit(PENDING_BATCH))
