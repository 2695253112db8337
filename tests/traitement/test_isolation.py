"""SPEC §8: an agent never sees another caisse's demandes — 404 on the demande,
its messages (on the demande page), its files and every action; nothing changes."""
import pytest

from ep_web.domain import demandes as dm
from ep_web.extensions import db
from ep_web.models import Attachment, AuditEvent, DemandeStatus
from ep_web.transaction import commit

ACTIONS = [("prise-en-charge", {}), ("reponse", {"reply-body": "Bonjour"}),
           ("complement", {"complement-body": "Bonjour"}), ("documents", {}), ("envoi-postal", {}),
           ("cloture", {"close-outcome": "traitee"})]


@pytest.fixture
def foreign(w, new_demande):
    """A demande of the other caisse, with a message and a file (rows written directly)."""
    d = new_demande(w.other_technicien, w.other_caisse, "signalement")
    dm.partner_reply(w.other_technicien, d, "Message secret de l'autre structure.")
    att = Attachment(demande_id=d.id, uploaded_by_id=w.other_technicien.id, original_name="secret.pdf",
                     stored_name="f" * 32, content_type="application/pdf", size=10, sha256="0" * 64)
    db.session.add(att)
    commit()
    return d, att


def test_other_caisse_agent_gets_404_everywhere(app, w, foreign, login):
    d, att = foreign
    client = login(w.agent)
    urls = [f"/traitement/demandes/{d.id}", f"/traitement/demandes/{d.id}/documents/{att.id}"]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 404, url
        body = resp.get_data(as_text=True)
        assert "Message secret" not in body and "secret.pdf" not in body and d.reference not in body
    for action, data in ACTIONS:
        resp = client.post(f"/traitement/demandes/{d.id}/{action}", data=data)
        assert resp.status_code == 404, action
    for headers in ({}, {"HX-Request": "true"}):
        assert client.post(f"/traitement/demandes/{d.id}/reponse", data={"reply-body": "x"},
                           headers=headers).status_code == 404
    db.session.expire_all()
    assert d.status == DemandeStatus.TRANSMISE and len(d.messages) == 1 and d.assigned_to_id is None
    assert d.sent_by_post_at is None
    assert not db.session.scalars(db.select(AuditEvent).where(AuditEvent.action == "document_downloaded")).all()
    # Not in its queue either, whatever the filters.
    html = client.get("/traitement?statut=transmise&service=signalement").get_data(as_text=True)
    assert d.reference not in html


def test_a_file_of_another_demande_is_404_through_an_own_demande(app, w, foreign, new_demande, login):
    _, att = foreign
    own = new_demande(w.technicien, w.caisse)
    resp = login(w.agent).get(f"/traitement/demandes/{own.id}/documents/{att.id}")
    assert resp.status_code == 404


def test_the_owning_caisse_sees_it(app, w, foreign, login):
    d, _ = foreign
    html = login(w.other_agent).get(f"/traitement/demandes/{d.id}").get_data(as_text=True)
    assert "Message secret" in html and "secret.pdf" in html


@pytest.mark.parametrize("who", ["technicien", "gestionnaire", "admin", "national"])
def test_other_profiles_cannot_process(app, w, new_demande, login, who):
    d = new_demande(w.technicien, w.caisse)
    client = login(getattr(w, who))
    assert client.get(f"/traitement/demandes/{d.id}").status_code in (403, 404)
    for action, data in ACTIONS:
        assert client.post(f"/traitement/demandes/{d.id}/{action}", data=data).status_code in (403, 404)
    db.session.expire_all()
    assert d.status == DemandeStatus.TRANSMISE
