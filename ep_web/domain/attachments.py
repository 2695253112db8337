"""Attachments (SPEC §4): PDF, JPEG or PNG only, recognised by content; 10 MB
each, 5 per demande; virus-scanned by clamd when configured; stored outside
the web root under a generated name; downloaded only as an attachment, and
only once the antivirus found it clean (or, where the deployment allows
unscanned files, unscanned and said so).

Scan states (``Attachment.scan_status``): ``sain`` (clamd answered OK at
upload or later), ``infecte`` (found later: never served, the uploader and the
caisse are told), ``en_attente`` (clamd slow or down at upload: the upload is
accepted, the background job ``workers.files`` scans it after the commit and
every few minutes until clamd answers), ``non_analyse`` (no clamd configured).
A virus found at upload is refused outright, as before.

The flow for a route::

    prepared = attachments.validate_uploads(form.files.data, len(demande.attachments))
    for p in prepared:
        attachments.store(p, uploader=current_user, demande=demande)
    commit()

Files are kept by ``ep_web.storage``: the local UPLOAD_DIR by default, an
S3-compatible bucket when ``EP_STORAGE_URL`` is set (several web servers).

Orphan files: ``store`` writes the file before the row is committed. When the
transaction that added the row ends without a commit (rollback, exception,
session closed), the files it wrote are deleted at once (session events below).
What that cannot cover — a process killed between write and commit, a rolled
back SAVEPOINT inside a committed transaction — ``remove_orphans()`` deletes
later: files with no row, older than a grace period (the purge job calls it).
"""
import hashlib
import logging
import re
import secrets
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta
from typing import IO

from flask import current_app, send_file
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound, ServiceUnavailable

from ep_web.clamav import Clamd, ClamdError
from ep_web.clock import now
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models.demande import Attachment, ScanStatus
from ep_web.storage import StorageUnavailable, get_storage
from ep_web.transaction import PENDING_SCANS

log = logging.getLogger(__name__)

KINDS = {
    # kind: (magic number at offset 0, MIME type, label)
    "pdf": (b"%PDF-", "application/pdf", "PDF"),
    "jpeg": (b"\xff\xd8\xff", "image/jpeg", "JPEG"),
    "png": (b"\x89PNG\r\n\x1a\n", "image/png", "PNG"),
}
# The extensions a name may keep for each kind (first = the one given otherwise).
EXTENSIONS = {"pdf": ("pdf",), "jpeg": ("jpg", "jpeg", "jpe"), "png": ("png",)}
KIND_OF_TYPE = {mime: kind for kind, (_, mime, _) in KINDS.items()}
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,10}$")
SNIFF_BYTES = 8
READ_CHUNK = 64 * 1024
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")
_PENDING = "ep_attachment_files"
STORE_DOWN = "Le dépôt des fichiers est momentanément indisponible : réessayez dans quelques minutes."


def sniff(head: bytes) -> str | None:
    """The file's kind ("pdf", "jpeg", "png") read from its first bytes, or
    None. SPEC §4: the type is recognised by content, never by the name, the
    extension or the type the browser declared.

    Magic numbers, not a library: the three formats are fixed and each is
    identified by its signature at offset 0 (ISO 32000 ``%PDF-``, JPEG SOI +
    marker ``FF D8 FF``, the 8-byte PNG signature), which is all a library such
    as ``filetype`` (unreleased since 2022) would check for them too."""
    for kind, (magic, _, _) in KINDS.items():
        if head.startswith(magic):
            return kind
    return None


@dataclass
class PreparedFile:
    """An upload that passed every check, held in a temporary file (in memory
    up to 1 MB, then on disk, unlinked) until ``store`` writes it."""

    original_name: str
    kind: str
    content_type: str
    size: int
    sha256: str
    data: IO[bytes] = dc_field(repr=False)
    field: str = "files"  # the form field, for a refusal at store time
    scan_status: ScanStatus = ScanStatus.NON_ANALYSE

    def close(self) -> None:
        self.data.close()


def clean_name(name: str | None) -> str:
    """The name shown and offered on download: the last path component (some
    browsers send a full path), NFC, without control or bidi characters (an
    RLO can disguise ``photo‮fdp.exe``), at most 255 characters, extension kept (SPEC §4 attachments)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Zl", "Zp"})
    name = " ".join(name.split()).strip(" .")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: 254 - len(ext)] + "." + ext
        else:
            name = name[:255]
    return name or "fichier"


def name_for_kind(name: str, kind: str) -> str:
    """The name with the extension of the detected type (SPEC §4: the type is
    the content's, and the name a browser or a desktop sees must not say
    otherwise): ``x.html`` holding a PNG → ``x.png``, ``résumé.exe`` holding
    a PDF → ``résumé.pdf``, ``scan`` → ``scan.pdf``; ``photo.JPEG`` stays."""
    allowed = EXTENSIONS[kind]
    stem, dot, ext = name.rpartition(".")
    if dot and stem and _EXTENSION.match(ext):
        if ext.lower() in allowed:
            return name
        name = stem
        inner_stem, inner_dot, inner_ext = stem.rpartition(".")
        if inner_dot and inner_stem and inner_ext.lower() in allowed:
            return stem  # "x.pdf.exe" holding a PDF → "x.pdf"
    suffix = "." + allowed[0]
    return name[: 255 - len(suffix)] + suffix


def _kinds_label(allowed) -> str:
    labels = [KINDS[k][2] for k in allowed]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " ou " + labels[-1]


def _mb(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:g}".replace(".", ",")


def validate_uploads(files, existing_count: int, allowed=("pdf", "jpeg", "png"),
                     field: str = "files") -> list[PreparedFile]:
    """Check the files of one form submission (SPEC §4) and return them ready
    to store: empty file inputs are skipped; at most ``MAX_ATTACHMENTS`` in all
    (``existing_count`` already attached plus these); each at most
    ``MAX_ATTACHMENT_BYTES``, counted while reading (Content-Length is not
    trusted); virus-scanned by clamd when ``CLAMD_SOCKET``/``CLAMD_ADDRESS`` is
    set, within ``CLAMD_UPLOAD_TIMEOUT``: a virus is refused, a clean file is
    ``sain``, and when clamd is slow or down the file is accepted
    ``en_attente`` (never served until the background job found it clean);
    without clamd it is ``non_analyse``. Its kind is sniffed from its content
    among ``allowed`` and its name takes that kind's extension.

    Raises DomainError(message, field) naming each refused file and why; the
    scan runs before the type check so that an infected file is reported as
    such. Nothing is stored here."""
    config = current_app.config
    limit, max_count = config["MAX_ATTACHMENT_BYTES"], config["MAX_ATTACHMENTS"]
    files = [f for f in (files or []) if f is not None and (f.filename or "").strip()]
    if existing_count + len(files) > max_count:
        room = max(max_count - existing_count, 0)
        if existing_count == 0:
            msg = f"Vous pouvez joindre {max_count} fichiers au maximum ; vous en avez choisi {len(files)}."
        elif room == 0:
            msg = (f"{existing_count} fichiers sont déjà joints : c'est le maximum ({max_count}), "
                   "vous ne pouvez plus en ajouter.")
        else:
            msg = (f"Vous pouvez joindre {max_count} fichiers au maximum : {existing_count} sont déjà joints, "
                   f"vous pouvez en ajouter {room} (vous en avez choisi {len(files)}).")
        raise DomainError(msg, field)

    scanner = Clamd.from_config(config)
    if scanner is not None:
        scanner.timeout = float(config.get("CLAMD_UPLOAD_TIMEOUT") or scanner.timeout)
    prepared: list[PreparedFile] = []
    refusals: list[str] = []
    pending_scanner = False
    try:
        for storage in files:
            name = clean_name(storage.filename)
            item = _read(storage, name, limit)
            if isinstance(item, str):
                refusals.append(item)
                continue
            data, size, digest, head = item
            if size == 0:
                data.close()
                refusals.append(f"« {name} » est vide.")
                continue
            status = ScanStatus.NON_ANALYSE
            if scanner is not None:
                data.seek(0)
                try:
                    signature = scanner.scan(data)
                    status = ScanStatus.SAIN
                except ClamdError as exc:
                    # Accepted, never served until the background job scans it.
                    log.warning("antivirus indisponible, fichier mis en attente d'analyse : %s", exc)
                    signature, status = None, ScanStatus.EN_ATTENTE
                    scanner = None  # the next files of this form would wait as long: they wait too
                    pending_scanner = True
                if signature:
                    data.close()
                    log.warning("virus refusé : %s (sha256 %s)", signature, digest)
                    shown = signature.removesuffix(".UNOFFICIAL")
                    refusals.append(f"« {name} » : un virus a été détecté ({shown}), le fichier est refusé.")
                    continue
            kind = sniff(head)
            if kind not in allowed:
                data.close()
                refusals.append(f"« {name} » : format non accepté ({_kinds_label(allowed)} uniquement).")
                continue
            data.seek(0)
            if status == ScanStatus.NON_ANALYSE and pending_scanner:
                status = ScanStatus.EN_ATTENTE
            prepared.append(PreparedFile(name_for_kind(name, kind), kind, KINDS[kind][1], size, digest, data, field,
                                         scan_status=status))
        if refusals:
            raise DomainError(" ".join(refusals), field)
    except BaseException:
        for p in prepared:
            p.close()
        raise
    return prepared


def _read(storage, name: str, limit: int):
    """Copy the upload into a temporary file, chunk by chunk, stopping one
    byte past the limit. Returns (file, size, sha256, head) or a refusal."""
    stream = storage.stream
    try:
        stream.seek(0)
    except (AttributeError, OSError):
        pass
    data = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    digest, size, head = hashlib.sha256(), 0, b""
    while chunk := stream.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            data.close()
            return f"« {name} » dépasse {_mb(limit)} Mo."
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
        data.write(chunk)
    return data, size, digest.hexdigest(), head


def store(prepared: PreparedFile, *, uploader, demande=None, ticket=None, message=None, resource=None,
          from_caisse: bool = False) -> Attachment:
    """Store a validated file under a random 32-hex name (no extension) and
    add its Attachment row (flush, no commit). SPEC §4: stored outside the web
    root under a generated name. A store that cannot be reached is a
    DomainError on the form's field (what the user typed is kept).

    If the transaction ends without a commit, the file is deleted (see the
    module docstring)."""
    if sum(x is not None for x in (demande, ticket, resource)) != 1:
        raise ValueError("store() needs exactly one of demande=, ticket= or resource=")
    storage = get_storage()
    stored_name = secrets.token_hex(16)
    try:
        storage.put(stored_name, prepared.data)
    except StorageUnavailable as exc:
        log.error("file store unavailable: %s", exc)
        raise DomainError(STORE_DOWN, prepared.field) from exc
    finally:
        prepared.close()

    session = db.session()
    session.info.setdefault(_PENDING, []).append((storage, stored_name))
    try:
        if message is not None and message.id is None:
            session.flush()
        attachment = Attachment(
            demande=demande,
            resource_id=resource.id if resource is not None else None,
            message_id=message.id if message is not None else None,
            uploaded_by_id=uploader.id,
            from_caisse=from_caisse,
            original_name=prepared.original_name,
            stored_name=stored_name,
            content_type=prepared.content_type,
            size=prepared.size,
            sha256=prepared.sha256,
            created_at=now(),
            scan_status=prepared.scan_status,
            scanned_at=now() if prepared.scan_status == ScanStatus.SAIN else None,
        )
        if ticket is not None:
            ticket.attachments.append(attachment)
        session.add(attachment)
        session.flush()
    except BaseException:
        _delete_quietly(storage, stored_name)
        raise
    if attachment.scan_status == ScanStatus.EN_ATTENTE:
        # ep_web.transaction.commit hands these to the background job once committed.
        session.info.setdefault(PENDING_SCANS, []).append(attachment.id)
    return attachment


def _delete_quietly(storage, stored_name: str) -> None:
    try:
        storage.delete(stored_name)
    except (OSError, StorageUnavailable):  # remove_orphans will get it
        log.warning("could not delete the uncommitted file %s", stored_name, exc_info=True)


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session, *_):
    # A SAVEPOINT's commit is not the end: the outer transaction may roll back.
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted_files(session, transaction):
    if transaction.parent is None:
        for storage, stored_name in session.info.pop(_PENDING, []):
            _delete_quietly(storage, stored_name)


@event.listens_for(Session, "after_rollback")
def _forget_uncommitted_scans(session):
    if not session.in_nested_transaction():
        session.info.pop(PENDING_SCANS, None)


def open_for_download(attachment: Attachment) -> tuple[IO[bytes], int, str, str]:
    """(open file, size, name offered to the browser, MIME type) of a stored
    file; FileNotFoundError if the file is gone (purged), StorageUnavailable
    if the store does not answer.

    No permission check here: the caller has already loaded the demande or
    ticket through the permissions loaders (another structure's or caisse's
    object is a 404) and audits the download (``document_downloaded``) (SPEC §4 documents)."""
    data, size = get_storage().open(attachment.stored_name)
    kind = KIND_OF_TYPE.get(attachment.content_type)
    name = name_for_kind(attachment.original_name, kind) if kind else attachment.original_name
    return data, size, name, attachment.content_type


class FileNotServable(Exception):
    """The file exists but its scan state forbids serving it (SPEC §4, §8)."""

    def __init__(self, attachment: Attachment):
        self.attachment = attachment
        status = attachment.scan_status
        if status == ScanStatus.EN_ATTENTE:
            self.message = ("L'analyse antivirus de ce fichier est en cours : il sera téléchargeable dès qu'elle "
                            "l'aura trouvé sain. Réessayez dans quelques minutes.")
        elif status == ScanStatus.INFECTE:
            self.message = "Un virus a été détecté dans ce fichier : il est bloqué et ne peut pas être téléchargé."
        else:
            self.message = ("Ce fichier n'a pas été analysé par l'antivirus : il ne peut pas être téléchargé "
                            "tant que l'analyse n'a pas eu lieu.")
        super().__init__(self.message)


def check_servable(attachment: Attachment) -> None:
    """Raise FileNotServable unless the file may be served: ``sain``, or
    ``non_analyse`` where ``EP_ALLOW_UNSCANNED`` allows it (SPEC §4, §8)."""
    if not attachment.downloadable(bool(current_app.config.get("ALLOW_UNSCANNED"))):
        raise FileNotServable(attachment)


def send_attachment(attachment: Attachment):
    """The download response: always ``Content-Disposition: attachment`` (never
    rendered by the browser), the MIME type found by sniffing, ``nosniff``,
    ``no-store`` (personal data) and a sandboxing CSP in case it is opened.

    Does NOT check permissions: the route loads and authorises the demande or
    ticket first (SPEC §8), then calls this. 404 if the file is missing; a
    French 409 page if its scan state forbids serving it (``check_servable``,
    which the route calls before auditing the download)."""
    check_servable(attachment)
    try:
        data, size, name, mimetype = open_for_download(attachment)
    except (FileNotFoundError, ValueError):
        raise NotFound() from None
    except StorageUnavailable as exc:
        log.error("file store unavailable: %s", exc)
        raise ServiceUnavailable(STORE_DOWN) from None
    response = send_file(data, mimetype=mimetype, as_attachment=True, download_name=name,
                         conditional=False, etag=False, max_age=None)
    response.content_length = size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def delete_files(stored_names) -> int:
    """Delete stored files (the purge job, SPEC §7, after deleting their rows).
    Missing files are ignored; names that are not ours are skipped. Returns
    how many files were deleted."""
    storage = get_storage()
    deleted = 0
    for stored_name in stored_names:
        if not STORED_NAME.match(stored_name or ""):
            log.warning("delete_files : nom ignoré %r", stored_name)
            continue
        deleted += storage.delete(stored_name)
    return deleted


def remove_orphans(older_than: timedelta = timedelta(hours=1), at: float | None = None) -> int:
    """Delete stored files that no Attachment row names (a transaction that
    never committed, a crash) and leftover partial writes, once older than
    ``older_than`` so that an upload still in flight is left alone. ``at`` is
    the reference time in epoch seconds, default the system time (not the
    injected clock: it is compared with the times the file system or the
    object store wrote). Returns how many files were deleted (SPEC §7)."""
    storage = get_storage()
    limit = (at if at is not None else time.time()) - older_than.total_seconds()
    names, deleted = storage.older_than(limit)
    for i in range(0, len(names), 500):
        batch = names[i:i + 500]
        known = set(db.session.scalars(select(Attachment.stored_name).where(Attachment.stored_name.in_(batch))))
        for name in batch:
            if name not in known:
                deleted += storage.delete(name)
    return deleted
