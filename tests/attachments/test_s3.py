"""Attachments in S3-compatible object storage (EP_STORAGE_URL), against a
real S3 server (SeaweedFS) started by the tests: the same guarantees as the
local folder (README "Production", SPEC §4 attachments, §7 purge)."""
import hashlib
import time
from datetime import timedelta

import pytest
from werkzeug.exceptions import NotFound, ServiceUnavailable

from ep_web.domain import attachments
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import Account
from ep_web.storage import S3Storage, StorageUnavailable, get_storage
from ep_web.transaction import commit, rollback
from tests.attachments import samples
from tests.attachments.samples import upload
from tests.servers import free_port


def _prepare(data=None, name="relevé de droits.pdf"):
    [prepared] = attachments.validate_uploads([upload(data or samples.pdf(), name)], 0)
    return prepared


def _store(demande, **kw):
    author = db.session.get(Account, demande.author_id)
    return attachments.store(_prepare(**kw), uploader=author, demande=demande)


def _read(s3, name):
    return s3.client().get_object(Bucket=s3.bucket, Key=s3.prefix + name)["Body"].read()


def test_a_stored_file_goes_to_the_bucket_not_to_the_folder(app, demande, uploads, s3):
    data = samples.pdf()
    att = _store(demande, data=data)
    commit()
    assert isinstance(get_storage(), S3Storage)
    assert s3.keys(s3.prefix) == [s3.prefix + att.stored_name]
    assert _read(s3, att.stored_name) == data
    assert not uploads.exists() or list(uploads.iterdir()) == []
    assert att.sha256 == hashlib.sha256(data).hexdigest()


def test_download_streams_the_object_with_the_same_headers(app, demande, s3):
    data = samples.png()
    att = _store(demande, data=data, name="scan.pdf")
    commit()
    with app.test_request_context("/"):
        resp = app.process_response(attachments.send_attachment(att))
        resp.direct_passthrough = False
        body = resp.get_data()
    assert body == data and resp.content_length == len(data)
    assert resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_rolled_back_transaction_leaves_no_object(app, demande, s3):
    kept = _store(demande)
    commit()
    _store(demande)
    rollback()
    assert s3.keys(s3.prefix) == [s3.prefix + kept.stored_name]


def test_purge_and_orphans(app, demande, s3):
    a, b = _store(demande), _store(demande)
    commit()
    savepoint = db.session.begin_nested()
    lost = _store(demande)
    savepoint.rollback()
    commit()
    assert len(s3.keys(s3.prefix)) == 3
    # A recent orphan is left alone (an upload may be in flight); later it goes.
    assert attachments.remove_orphans(older_than=timedelta(hours=1)) == 0
    assert attachments.remove_orphans(older_than=timedelta(hours=1), at=time.time() + 7200) == 1
    assert lost.stored_name not in {k.rsplit("/", 1)[-1] for k in s3.keys(s3.prefix)}
    assert attachments.delete_files([a.stored_name, "f" * 32, "../secret"]) == 1
    assert s3.keys(s3.prefix) == [s3.prefix + b.stored_name]
    with app.test_request_context("/"), pytest.raises(NotFound):
        attachments.send_attachment(a)


def test_only_this_prefix_is_ever_touched(app, demande, s3):
    neighbour = s3.prefix.rstrip("/") + "-other/" + "a" * 32
    s3.client().put_object(Bucket=s3.bucket, Key=neighbour, Body=b"x")
    assert attachments.remove_orphans(older_than=timedelta(0), at=time.time() + 60) == 0
    assert s3.keys(neighbour) == [neighbour]


def test_an_unreachable_store_is_a_message_on_the_field_and_a_503_on_download(app, demande, s3):
    att = _store(demande)
    commit()
    app.config["STORAGE_URL"] = f"s3://{s3.bucket}/x?endpoint=http://127.0.0.1:{free_port()}"
    with pytest.raises(DomainError) as refused:
        _store(demande)
    assert refused.value.field == "files" and "indisponible" in refused.value.message
    rollback()
    with app.test_request_context("/"), pytest.raises(ServiceUnavailable):
        attachments.send_attachment(att)


def test_wrong_credentials_are_refused_by_the_server(app, s3):
    app.config["STORAGE_SECRET_KEY"] = "not-the-secret"
    storage = get_storage()
    with pytest.raises(StorageUnavailable):
        storage.ping()
    with pytest.raises(StorageUnavailable):
        storage.open("a" * 32)


def test_the_storage_url_is_checked(app):
    with pytest.raises(RuntimeError, match="EP_STORAGE_URL"):
        S3Storage("https://bucket.example/x")
    storage = S3Storage("s3://bucket/some/prefix/?endpoint=http://127.0.0.1:1&region=fr-par&sse=AES256")
    assert (storage.bucket, storage.prefix, storage.region, storage.sse) == ("bucket", "some/prefix/", "fr-par",
                                                                             "AES256")
    with pytest.raises(ValueError):
        storage.key("../etc/passwd")
