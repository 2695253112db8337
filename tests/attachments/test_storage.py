"""Storing outside the web root under a generated name, orphans, purge and the
download response (SPEC §4, §7)."""
import hashlib
import os
import re
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.exceptions import NotFound

from ep_web.domain import attachments
from ep_web.extensions import db
from ep_web.models import Account
from ep_web.models.demande import Attachment, DemandeMessage
from ep_web.transaction import commit, rollback
from tests.attachments import samples
from tests.attachments.samples import upload


def _prepare(data=None, name="relevé de droits.pdf"):
    [prepared] = attachments.validate_uploads([upload(data or samples.pdf(), name)], 0)
    return prepared


def _store(demande, **kw):
    author = db.session.get(Account, demande.author_id)
    return attachments.store(_prepare(**kw), uploader=author, demande=demande)


def test_stored_outside_static_under_a_random_name_readable_by_the_owner_only(app, demande, uploads, clock):
    data = samples.pdf()
    att = _store(demande, data=data)
    commit()
    assert re.fullmatch(r"[0-9a-f]{32}", att.stored_name)
    path = uploads / att.stored_name
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
    static = Path(app.static_folder).resolve()
    assert static not in path.resolve().parents
    assert sorted(p.name for p in uploads.iterdir()) == [att.stored_name]  # no extension, no leftover .part
    row = db.session.get(Attachment, att.id)
    assert (row.demande_id, row.uploaded_by_id, row.from_caisse) == (demande.id, demande.author_id, False)
    assert (row.original_name, row.content_type, row.size) == ("relevé de droits.pdf", "application/pdf", len(data))
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    assert row.created_at == clock.now()
    assert demande.attachments == [row]


def test_two_uploads_of_the_same_file_get_different_names(app, demande, uploads):
    a, b = _store(demande), _store(demande)
    commit()
    assert a.stored_name != b.stored_name and len(list(uploads.iterdir())) == 2


def test_caisse_document_linked_to_a_message(app, demande, make):
    agent = make.agent(db.session.get(type(demande.caisse), demande.caisse_id))
    message = DemandeMessage(demande=demande, author_id=agent.id, from_caisse=True, body="Voici l'attestation.")
    db.session.add(message)
    att = attachments.store(_prepare(samples.png(), "attestation.png"), uploader=agent, demande=demande,
                            message=message, from_caisse=True)
    commit()
    assert (att.message_id, att.from_caisse, att.content_type) == (message.id, True, "image/png")


def test_store_needs_one_owner(app, demande):
    author = db.session.get(Account, demande.author_id)
    with pytest.raises(ValueError):
        attachments.store(_prepare(), uploader=author)


def test_a_rolled_back_transaction_leaves_no_file(app, demande, uploads):
    att = _store(demande)
    assert (uploads / att.stored_name).exists()
    rollback()
    assert list(uploads.iterdir()) == []
    assert db.session.scalar(db.select(db.func.count(Attachment.id))) == 0


def test_a_session_closed_without_commit_leaves_no_file(app, demande, uploads):
    _store(demande)
    db.session.remove()
    assert list(uploads.iterdir()) == []


def test_a_committed_file_survives_later_rollbacks(app, demande, uploads):
    kept = _store(demande)
    commit()
    _store(demande)
    rollback()
    assert [p.name for p in uploads.iterdir()] == [kept.stored_name]


def test_refuses_an_upload_dir_under_static(app, demande):
    app.config["UPLOAD_DIR"] = os.path.join(app.static_folder, "uploads")
    with pytest.raises(RuntimeError, match="static"):
        _store(demande)


def test_remove_orphans_spares_known_and_recent_files(app, demande, uploads):
    known = _store(demande)
    commit()
    old = time.time() - 2 * 3600
    orphan = uploads / ("a" * 32)
    recent = uploads / ("b" * 32)
    part = uploads / ("c" * 32 + ".part")
    foreign = uploads / "README"
    for f in (orphan, recent, part, foreign):
        f.write_bytes(b"x")
    for f in (orphan, part, foreign, uploads / known.stored_name):
        os.utime(f, (old, old))
    assert attachments.remove_orphans(older_than=timedelta(hours=1)) == 2
    assert sorted(p.name for p in uploads.iterdir()) == sorted([known.stored_name, recent.name, "README"])
    # Later on, the recent orphan goes too.
    assert attachments.remove_orphans(older_than=timedelta(hours=1), at=time.time() + 7200) == 1


def test_delete_files_for_the_purge(app, demande, uploads, tmp_path):
    a, b = _store(demande), _store(demande)
    commit()
    outside = tmp_path / "secret"
    outside.write_text("x")
    assert attachments.delete_files([a.stored_name, "f" * 32, "../secret", b.stored_name]) == 2
    assert list(uploads.iterdir()) == [] and outside.exists()


@pytest.fixture
def download(app):
    """The response of ``send_attachment`` as the app sends it (its after_request
    hooks applied): the real routes authorise first, then call it."""

    def _download(attachment):
        with app.test_request_context("/"):
            resp = app.process_response(attachments.send_attachment(attachment))
            resp.direct_passthrough = False
            resp.get_data()  # read (and close) the file inside the request
            return resp

    return _download


def test_download_is_an_attachment_never_sniffed_nor_cached(app, demande, download):
    data = samples.pdf()
    att = _store(demande, data=data, name="relevé de droits.pdf")
    commit()
    resp = download(att)
    assert resp.status_code == 200
    assert resp.data == data
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''relev%C3%A9%20de%20droits.pdf" in disposition
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    assert "ETag" not in resp.headers


def test_download_serves_the_sniffed_type_not_the_name(app, demande, download):
    att = _store(demande, data=samples.png(), name="scan.pdf")
    commit()
    resp = download(att)
    assert resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"].startswith("attachment;")


def test_download_of_a_purged_file_is_a_404(app, demande, download):
    att = _store(demande)
    commit()
    attachments.delete_files([att.stored_name])
    with pytest.raises(NotFound):
        download(att)


def test_open_for_download(app, demande, uploads):
    att = _store(demande, data=samples.jpeg(), name="photo.jpg")
    commit()
    data, size, name, mimetype = attachments.open_for_download(att)
    with data:
        assert data.read() == samples.jpeg()
    assert (size, name, mimetype) == (len(samples.jpeg()), "photo.jpg", "image/jpeg")


def test_a_released_savepoint_still_rolls_back_with_its_transaction(app, demande, uploads):
    with db.session.begin_nested():
        _store(demande)
    assert len(list(uploads.iterdir())) == 1
    rollback()
    assert list(uploads.iterdir()) == []


def test_a_rolled_back_savepoint_leaves_an_orphan_for_remove_orphans(app, demande, uploads):
    kept = _store(demande)
    savepoint = db.session.begin_nested()
    lost = _store(demande)
    savepoint.rollback()
    commit()
    assert {p.name for p in uploads.iterdir()} == {kept.stored_name, lost.stored_name}
    assert attachments.remove_orphans(older_than=timedelta(0), at=time.time() + 1) == 1
    assert [p.name for p in uploads.iterdir()] == [kept.stored_name]
