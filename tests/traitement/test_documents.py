"""Documents (SPEC §4): for a structure habilitée the agent attaches the
document and the partner downloads it (each download audited); otherwise the
agent marks it sent to the insured person's known address."""
import html as html_lib
import io

import pytest

from ep_web.domain import demandes as dm
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import Attachment, AuditEvent
from ep_web.permissions import can_view_demande
from ep_web.transaction import commit

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(autouse=True)
def _uploads(app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    app.config["CLAMD_SOCKET"] = ""
    app.config["CLAMD_ADDRESS"] = ""


@pytest.fixture
def habilitee(w):
    w.partenaire.habilite_documents = True
    db.session.commit()
    return w


def _pdf(name="attestation.pdf", content=PDF):
    return (io.BytesIO(content), name)


def _audits():
    return db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "document_downloaded")
                              .order_by(AuditEvent.id)).all()


def test_habilitee_attach_then_download_audited(app, habilitee, new_demande, login, outbox):
    w = habilitee
    d = new_demande(w.technicien, w.caisse, "document")
    agent = login(w.agent)
    page = html_lib.unescape(agent.get(f"/traitement/demandes/{d.id}").get_data(as_text=True))
    assert "Déposer le document" in page and "Marquer comme envoyé" not in page
    resp = agent.post(f"/traitement/demandes/{d.id}/documents", data={"doc-files": [_pdf()]},
                      content_type="multipart/form-data")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    db.session.expire_all()
    att = d.attachments[0]
    assert att.from_caisse and att.original_name == "attestation.pdf" and att.uploaded_by_id == w.agent.id
    assert d.events[-1].kind == "document_attached"
    assert "un document est disponible" in outbox(w.technicien.email)[-1].subject
    # The agent downloads it through the queue: served as an attachment, audited.
    page = agent.get(f"/traitement/demandes/{d.id}").get_data(as_text=True)
    link = f"/traitement/demandes/{d.id}/documents/{att.id}"
    assert link in page
    resp = agent.get(link)
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.headers["Content-Disposition"].startswith("attachment")
    audits = _audits()
    assert len(audits) == 1 and audits[0].actor_id == w.agent.id
    agent.get(link)
    assert len(_audits()) == 2  # each download
    # The partner side: the technicien may see it, and its download is audited the same way.
    assert can_view_demande(w.technicien, d)
    from ep_web.domain.attachments import send_attachment

    with app.test_request_context():
        dm.record_download(w.technicien, att)
        commit()
        resp = send_attachment(att)
        resp.direct_passthrough = False
        assert resp.headers["Content-Disposition"].startswith("attachment") and resp.get_data() == PDF
    assert _audits()[-1].actor_id == w.technicien.id
    assert not can_view_demande(w.other_technicien, d)


def test_reply_with_a_file_for_a_structure_habilitee(app, habilitee, new_demande, login):
    w = habilitee
    d = new_demande(w.technicien, w.caisse, "document")
    resp = login(w.agent).post(f"/traitement/demandes/{d.id}/reponse",
                               data={"reply-body": "Voici l'attestation demandée.", "reply-files": [_pdf()]},
                               content_type="multipart/form-data")
    assert resp.status_code == 303
    db.session.expire_all()
    assert d.messages[0].body == "Voici l'attestation demandée."
    assert d.attachments[0].message_id == d.messages[0].id and d.attachments[0].from_caisse


def test_a_refused_file_keeps_the_text(app, habilitee, new_demande, login):
    w = habilitee
    d = new_demande(w.technicien, w.caisse, "document")
    resp = login(w.agent).post(f"/traitement/demandes/{d.id}/reponse",
                               data={"reply-body": "Voici le document.",
                                     "reply-files": [_pdf("faux.pdf", b"MZ\x90\x00 not a pdf")]},
                               content_type="multipart/form-data")
    html = html_lib.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 422 and 'id="reply-files-error"' in html and "Voici le document." in html
    db.session.expire_all()
    assert not d.attachments and not d.messages


def test_not_habilitee_cannot_receive_files(app, w, new_demande, login):
    d = new_demande(w.technicien, w.caisse, "document")
    agent = login(w.agent)
    for url, data in ((f"/traitement/demandes/{d.id}/documents", {"doc-files": [_pdf()]}),
                      (f"/traitement/demandes/{d.id}/reponse", {"reply-body": "Ci-joint.", "reply-files": [_pdf()]})):
        resp = agent.post(url, data=data, content_type="multipart/form-data")
        html = html_lib.unescape(resp.get_data(as_text=True))
        assert resp.status_code == 422 and "n'est pas habilitée" in html and "adresse connue de l'assuré" in html
    db.session.expire_all()
    assert not d.attachments and not d.messages
    with pytest.raises(DomainError, match="pas habilitée"):
        dm.attach_documents(w.agent, d, [object()])
    resp = agent.post(f"/traitement/demandes/{d.id}/envoi-postal")
    assert resp.status_code == 303
    db.session.expire_all()
    assert d.sent_by_post_at is not None
    page = html_lib.unescape(agent.get(f"/traitement/demandes/{d.id}").get_data(as_text=True))
    assert "envoyé à l'adresse connue" in page


def test_no_file_chosen(app, habilitee, new_demande, login):
    d = new_demande(habilitee.technicien, habilitee.caisse, "document")
    resp = login(habilitee.agent).post(f"/traitement/demandes/{d.id}/documents", data={},
                                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "Joignez le document." in html_lib.unescape(resp.get_data(as_text=True))
    assert db.session.scalar(db.select(db.func.count(Attachment.id))) == 0
