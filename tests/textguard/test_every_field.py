"""SPEC §4: every text a partner types is checked by the NIR guard — not only
the demande form: comments to the caisse, identities, reasons, tickets,
messages. Each field gets a NIR through HTTP: refused next to it, not stored."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep_web.domain import tickets as ticket_domain
from ep_web.domain.requests import file_request
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, GestionnaireRequest, RequestKind, RequestStatus, TicketMessage
from ep_web.transaction import commit

NIR = "1 80 05 74 123 456 " + f"{97 - int('1800574123456') % 97:02d}"
SAID = "numéro de sécurité sociale (NIR)"


def _prefixed(prefix: str, data: dict) -> dict:
    return {f"{prefix}-{k}": v for k, v in data.items()}


def _identity(w, **over) -> dict:
    return {"civilite": "Mme", "nom": "Exemple", "prenom": "Camille", "fonction": "Conseillère",
            "telephone": "01 23 45 67 89", "email": f"camille.exemple@{w.partenaire.domain_list[0]}", **over}


@pytest.mark.parametrize("field", ["comment", "fonction", "telephone"])
def test_a_request_to_the_caisse(client, make, login, field):
    w = make.world()
    login(w.gestionnaire)
    data = {"caisse_id": str(w.caisse.id), "comment": "Remplacement", **_identity(w)}
    data[field] = f"Voir {NIR}" if field != "telephone" else NIR
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=_prefixed("creation", data))
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    assert db.session.scalar(select(GestionnaireRequest.id)) is None


def test_a_departure_comment(client, make, login, clock):
    w = make.world()
    login(w.gestionnaire)
    wished = (clock.now().date() + timedelta(days=20)).strftime("%d/%m/%Y")
    resp = client.post("/gestion/demandes/inactivation", data=_prefixed("inactivation", {
        "caisse_id": str(w.caisse.id), "target_id": str(w.gestionnaire2.id), "wished_date": wished,
        "comment": f"Départ, son NIR {NIR}"}))
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    assert db.session.scalar(select(GestionnaireRequest.id)) is None


@pytest.mark.parametrize("field", ["fonction", "telephone"])
def test_a_new_technicien(client, make, login, field):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/techniciens", data=_identity(w, **{field: NIR}))
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    assert db.session.scalar(select(Account.id).where(Account.email.like("camille.exemple@%"))) is None


@pytest.mark.parametrize("action", ["inactiver", "signaler"])
def test_a_reason_given_by_the_gestionnaire(client, make, login, action):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post(f"/gestion/techniciens/{w.technicien.id}/{action}",
                       data={"reason": f"Usage {NIR}", "confirmed": "1"})
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    db.session.expire_all()
    assert w.technicien.status == AccountStatus.ACTIVE


@pytest.mark.parametrize("field", ["subject", "page_detail"])
def test_a_ticket(client, make, login, field):
    w = make.world()
    login(w.technicien)
    data = {"caisse_id": str(w.caisse.id), "subject": "Page blanche", "area": "autre", "page_detail": "",
            "description": "La page reste blanche."}
    data[field] = f"Dossier {NIR}"
    resp = client.post("/tickets/nouveau", data=data)
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)


def test_a_ticket_reply(client, make, login):
    w = make.world()
    ticket = ticket_domain.open_ticket(w.technicien, caisse_id=w.caisse.id, subject="Page blanche",
                                       description="La page reste blanche.", area="autre")
    commit()
    before = db.session.scalar(select(db.func.count(TicketMessage.id)))
    login(w.technicien)
    resp = client.post(f"/tickets/{ticket.id}/messages", data={"body": f"Le NIR est {NIR}"})
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count(TicketMessage.id))) == before


def test_the_caisse_refusal_sent_to_the_partner(client, make, login, clock):
    w = make.world()
    req = file_request(w.gestionnaire, w.caisse, RequestKind.INACTIVATION, target_id=w.gestionnaire2.id,
                       wished_date=clock.now().date() + timedelta(days=20))
    commit()
    login(w.admin)
    resp = client.post(f"/caisse/demandes/{req.id}/refuser", data={"r-response": f"Refus {NIR}", "confirmed": "1"})
    assert resp.status_code == 422 and SAID in resp.get_data(as_text=True)
    db.session.expire_all()
    assert req.status == RequestStatus.PENDING
