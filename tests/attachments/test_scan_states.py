"""Files scanned, or visibly not (SPEC §4 attachments, §8): scan states, the
background scan when clamd is down at upload, infected files never served,
``flask ep rescan``, the served name's extension, and the refusal to start in
production without antivirus. Against the real clamd of the conftest."""
import re

import pytest

from ep_web import create_app
from ep_web.config import ConfigurationError
from ep_web.domain import attachments
from ep_web.extensions import db
from ep_web.models import Account, AuditEvent
from ep_web.models.demande import Attachment, ScanStatus
from ep_web.transaction import commit
from tests.attachments import samples
from tests.attachments.conftest import EMBEDDED_SIGNATURE, free_port
from tests.attachments.samples import upload


def _store(demande, data, name, **config):
    from flask import current_app

    current_app.config.update(config)
    author = db.session.get(Account, demande.author_id)
    [prepared] = attachments.validate_uploads([upload(data, name)], 0)
    att = attachments.store(prepared, uploader=author, demande=demande)
    commit()
    return att


def _store_while_clamd_is_down(demande, data, name="pièce.pdf"):
    return _store(demande, data, name, CLAMD_SOCKET="", CLAMD_ADDRESS=f"127.0.0.1:{free_port()}")


def _page(client, demande):
    return client.get(f"/demandes/{demande.id}").get_data(as_text=True)


def _link(demande, att) -> str:
    return f"/demandes/{demande.id}/pieces/{att.id}"


@pytest.fixture
def technicien_client(demande, login):
    return login(db.session.get(Account, demande.author_id))


def test_clamd_down_at_upload_then_the_job_scans_the_file_clean(app, demande, technicien_client, clamd_daemon):
    from workers.files import scan_pending_files

    att = _store_while_clamd_is_down(demande, samples.pdf())
    assert att.scan_status == ScanStatus.EN_ATTENTE and att.scanned_at is None
    page = _page(technicien_client, demande)
    assert "analyse antivirus en cours" in page and _link(demande, att) not in page
    assert 'data-testid="scan-pending"' in page  # the user is told, in a live region
    resp = technicien_client.get(_link(demande, att))
    assert resp.status_code == 409 and "analyse antivirus de ce fichier est en cours" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(
        AuditEvent.action == "document_downloaded")) == 0

    app.config.update(CLAMD_ADDRESS="", CLAMD_SOCKET=clamd_daemon.socket)
    assert scan_pending_files()["clean"] == 1
    db.session.expire_all()
    att = db.session.get(Attachment, att.id)
    assert att.scan_status == ScanStatus.SAIN and att.scanned_at is not None
    resp = technicien_client.get(_link(demande, att))
    assert resp.status_code == 200 and resp.data == samples.pdf()
    assert 'data-testid="scan-pending"' not in _page(technicien_client, demande)
    assert scan_pending_files()["scanned"] == 0  # nothing waits any more


def test_clamd_down_at_upload_then_the_job_finds_eicar_never_served_and_people_told(
        app, demande, technicien_client, clamd_daemon, outbox):
    from workers.files import scan_attachments

    author = db.session.get(Account, demande.author_id)
    att = _store_while_clamd_is_down(demande, samples.pdf(extra=samples.eicar()), "bulletin Exemple.pdf")
    assert att.scan_status == ScanStatus.EN_ATTENTE
    still_down = scan_attachments([att.id])  # clamd still down: the file keeps waiting
    assert still_down["scanned"] == 0 and "error" in still_down
    assert db.session.get(Attachment, att.id).scan_status == ScanStatus.EN_ATTENTE

    app.config.update(CLAMD_ADDRESS=clamd_daemon.address)
    assert scan_attachments([att.id])["infected"] == 1
    db.session.expire_all()
    att = db.session.get(Attachment, att.id)
    assert (att.scan_status, att.scan_signature) == (ScanStatus.INFECTE, EMBEDDED_SIGNATURE)

    resp = technicien_client.get(_link(demande, att))
    assert resp.status_code == 409 and "virus" in resp.get_data(as_text=True)
    page = _page(technicien_client, demande)
    assert "virus détecté : fichier bloqué" in page and _link(demande, att) not in page

    mails = {m.to: m for m in outbox()}
    assert set(mails) == {author.email, demande.caisse.referent_email}
    for mail in mails.values():
        assert demande.reference in mail.subject and demande.reference in mail.body_text
        for personal in ("Exemple", "Camille", "bulletin"):  # the person, and the file name that may name them
            assert personal not in mail.body_text and personal not in mail.body_html and personal not in mail.subject
    assert f"http://ep.test/demandes/{demande.id}" in mails[author.email].body_text
    assert f"http://ep.test/traitement/demandes/{demande.id}" in mails[demande.caisse.referent_email].body_text
    event = db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "file_infected")).one()
    assert event.details["reference"] == demande.reference and event.caisse_id == demande.caisse_id

    # Scanned again (a rescan): no second e-mail.
    from ep_web.domain import filescan

    filescan.scan_files(filescan.selection(ids=[att.id]))
    commit()
    assert len(outbox()) == 2


def test_unscanned_files_are_served_only_where_explicitly_allowed(app, demande, technicien_client):
    att = _store(demande, samples.pdf(), "a.pdf", CLAMD_SOCKET="", CLAMD_ADDRESS="")
    assert att.scan_status == ScanStatus.NON_ANALYSE

    app.config["ALLOW_UNSCANNED"] = True
    page = _page(technicien_client, demande)
    assert _link(demande, att) in page and "non analysé" in page
    assert technicien_client.get(_link(demande, att)).status_code == 200

    app.config["ALLOW_UNSCANNED"] = False
    page = _page(technicien_client, demande)
    assert _link(demande, att) not in page and "téléchargement impossible" in page
    resp = technicien_client.get(_link(demande, att))
    assert resp.status_code == 409 and "pas été analysé par l&#39;antivirus" in resp.get_data(as_text=True)


def test_a_clean_file_scanned_at_upload_is_served_without_mention(app, demande, technicien_client, clamd_daemon):
    att = _store(demande, samples.pdf(), "a.pdf", CLAMD_SOCKET=clamd_daemon.socket, ALLOW_UNSCANNED=False)
    assert att.scan_status == ScanStatus.SAIN
    page = _page(technicien_client, demande)
    assert _link(demande, att) in page and "non analysé" not in page
    assert technicien_client.get(_link(demande, att)).status_code == 200


def test_rescan_after_a_signature_update(app, demande, clamd_daemon, clock):
    """Files stored unscanned (or scanned with older signatures) are rescanned;
    ``--before`` keeps those scanned before a day."""
    clean = _store(demande, samples.pdf(), "a.pdf", CLAMD_SOCKET="", CLAMD_ADDRESS="")
    infected = _store(demande, samples.pdf(extra=samples.eicar()), "b.pdf")
    runner = app.test_cli_runner()

    missing = runner.invoke(args=["ep", "rescan"])
    assert missing.exit_code == 1 and "aucun antivirus configuré" in missing.output

    app.config["CLAMD_SOCKET"] = clamd_daemon.socket
    result = runner.invoke(args=["ep", "rescan"])
    assert result.exit_code == 2, result.output
    assert "2 fichier(s) analysé(s) : 1 sain(s), 1 nouvellement infecté(s)" in result.output
    db.session.expire_all()
    assert db.session.get(Attachment, clean.id).scan_status == ScanStatus.SAIN
    assert db.session.get(Attachment, infected.id).scan_status == ScanStatus.INFECTE

    today = clock.now().date().isoformat()
    assert "0 fichier(s) analysé(s)" in runner.invoke(args=["ep", "rescan", "--before", today]).output
    clock.advance(days=1)
    again = runner.invoke(args=["ep", "rescan", "--before", clock.now().date().isoformat()])
    assert again.exit_code == 0 and "2 fichier(s) analysé(s) : 1 sain(s), 0 nouvellement" in again.output
    assert runner.invoke(args=["ep", "rescan", "--before", "hier"]).exit_code == 2  # click's usage error


@pytest.mark.parametrize(("name", "kind", "expected"), [
    ("x.html", "png", "x.png"),
    ("résumé.exe", "pdf", "résumé.pdf"),
    ("scan", "pdf", "scan.pdf"),
    ("photo.JPEG", "jpeg", "photo.JPEG"),
    ("photo.jpg", "jpeg", "photo.jpg"),
    ("facture.pdf.exe", "pdf", "facture.pdf"),
    ("Mme L. rapport", "pdf", "Mme L. rapport.pdf"),
    ("image.png", "jpeg", "image.jpg"),
])
def test_name_takes_the_extension_of_the_detected_type(name, kind, expected):
    assert attachments.name_for_kind(name, kind) == expected


def test_stored_and_served_name_is_the_detected_type(app, demande, technicien_client):
    png = _store(demande, samples.png(), "x.html", CLAMD_SOCKET="", CLAMD_ADDRESS="")
    pdf = _store(demande, samples.pdf(), "résumé.exe")
    assert (png.original_name, pdf.original_name) == ("x.png", "résumé.pdf")
    disposition = technicien_client.get(_link(demande, png)).headers["Content-Disposition"]
    assert re.search(r"filename=\"?x\.png", disposition), disposition
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf" in technicien_client.get(_link(demande, pdf)).headers[
        "Content-Disposition"]
    # A row stored before the rule keeps its name in the database and is served right.
    png.original_name = "y.html"
    commit()
    assert "y.png" in technicien_client.get(_link(demande, png)).headers["Content-Disposition"]


# ---------------------------------------------------------------- start-up


STRONG_KEY = "k" * 48  # the secret key check passes: what is tested here is the antivirus


def _build(environ):
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, environ={"EP_SECRET_KEY": STRONG_KEY, **environ})


def test_production_without_antivirus_refuses_to_start(capsys):
    with pytest.raises(ConfigurationError):
        _build({})
    err = capsys.readouterr().err
    assert "refuse de démarrer" in err and "EP_CLAMD_SOCKET" in err and "EP_ALLOW_UNSCANNED=1" in err
    with pytest.raises(ConfigurationError):
        _build({"EP_ENV": "production", "EP_ALLOW_UNSCANNED": "0"})


def test_antivirus_or_the_explicit_flag_or_development_lets_it_start(capsys):
    assert _build({"EP_CLAMD_ADDRESS": "127.0.0.1:3310"}).config["ALLOW_UNSCANNED"] is False
    assert "ATTENTION" not in capsys.readouterr().err
    assert _build({"EP_CLAMD_SOCKET": "/run/clamav/clamd.ctl"}).config["CLAMD_SOCKET"]
    assert _build({"EP_ALLOW_UNSCANNED": "1"}).config["ALLOW_UNSCANNED"] is True
    assert "aucun antivirus configuré (EP_ALLOW_UNSCANNED=1)" in capsys.readouterr().err
    assert _build({"EP_ENV": "development"}).config["EP_ENV"] == "development"
    assert _build({"EP_ENV": "test"}).config["ALLOW_UNSCANNED"] is False


def test_once_clamd_is_configured_the_periodic_job_scans_unscanned_files_too(app, demande, clamd_daemon):
    """Files stored without antivirus (or before scan states) need no operator."""
    from workers.files import scan_pending_files

    unscanned = _store(demande, samples.pdf(), "a.pdf", CLAMD_SOCKET="", CLAMD_ADDRESS="")
    assert scan_pending_files() == {"scanned": 0, "clean": 0, "infected": 0, "missing": 0}  # no clamd: left alone
    app.config["CLAMD_SOCKET"] = clamd_daemon.socket
    assert scan_pending_files()["clean"] == 1
    db.session.expire_all()
    assert db.session.get(Attachment, unscanned.id).scan_status == ScanStatus.SAIN
