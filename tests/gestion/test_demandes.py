"""Requests from the gestionnaire to the caisse about gestionnaires (SPEC §3
[2.2.1-2.2.3]): new one, change, inactivation at a date ≥ 15 days away."""
import html as html_lib
import re
from datetime import timedelta

from sqlalchemy import select

from ep_web.clock import today
from ep_web.domain.requests import deadline_for
from ep_web.extensions import db
from ep_web.models import GestionnaireRequest, RequestKind, RequestStatus
from tests.gestion.conftest import HTMX


def body(resp) -> str:
    return html_lib.unescape(resp.get_data(as_text=True))


def prefixed(prefix: str, data: dict) -> dict:
    return {f"{prefix}-{k}": v for k, v in data.items()}


def requests_filed():
    return db.session.scalars(select(GestionnaireRequest).order_by(GestionnaireRequest.id)).all()


def test_page_offers_the_caisses_in_force_and_the_partners_gestionnaires(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.get("/gestion/demandes")
    assert resp.status_code == 200
    html = body(resp)
    # A single caisse in force: the only option, nothing to choose.
    assert f'<option value="{w.caisse.id}">{w.caisse.name}</option></select>' in html
    assert w.other_caisse.name not in html
    assert w.gestionnaire2.email in html and w.other_gestionnaire.email not in html
    assert "Aucune demande déposée pour l'instant." in html
    earliest = (today() + timedelta(days=15)).strftime("%d/%m/%Y")
    assert f"Le {earliest} au plus tôt" in html


def test_request_a_new_gestionnaire(client, make, login, identity, outbox):
    w = make.world()
    login(w.gestionnaire)
    data = {"caisse_id": w.caisse.id, "comment": "Remplacement d'un départ", **identity(w.partenaire, 4)}
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data))
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/gestion/demandes")
    [req] = requests_filed()
    assert req.kind == RequestKind.CREATION and req.status == RequestStatus.PENDING
    assert req.caisse_id == w.caisse.id and req.partenaire_id == w.partenaire.id
    assert req.payload["email"] == data["email"] and req.comment == "Remplacement d'un départ"
    assert req.deadline == deadline_for(today())
    assert [m.template for m in outbox(w.caisse.referent_email)] == ["request_filed"]

    html = body(client.get("/gestion/demandes"))
    assert "Votre demande est transmise à la caisse" in html
    row = html.split(f'<tr id="demande-{req.id}">')[1].split("</tr>")[0]
    assert "Nouveau gestionnaire" in row and "CamilleE EssaiE" in row
    assert req.deadline.strftime("%d/%m/%Y") in row and "À traiter" in row


def test_a_refused_creation_request_keeps_what_was_typed(client, make, login, identity):
    w = make.world()
    login(w.gestionnaire)
    data = {"caisse_id": w.caisse.id, **identity(w.partenaire, 4, email="camille@laposte.net", telephone="")}
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data))
    assert resp.status_code == 422
    html = body(resp)
    # The domain checks one thing at a time: the phone a gestionnaire must give comes first.
    assert re.search(r'id="creation-telephone-error">Indiquez le téléphone.</p>', html)
    assert 'value="camille@laposte.net"' in html and 'value="CamilleE"' in html
    data["telephone"] = "01 23 45 67 89"
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data))
    assert resp.status_code == 422
    assert re.search(r'id="creation-email-error">Les adresses de messagerie personnelle',
                     body(resp))
    assert requests_filed() == []


def test_the_caisse_must_hold_a_convention_in_force(client, make, login, identity):
    w = make.world()
    login(w.gestionnaire)
    data = {"caisse_id": w.other_caisse.id, **identity(w.partenaire, 4)}
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data))
    assert resp.status_code == 422
    assert "Votre structure n'a pas de convention en cours avec cette caisse." in body(resp)
    resp = client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", {**data, "caisse_id": ""}))
    assert resp.status_code == 422
    assert "Choisissez la caisse destinataire." in body(resp)
    assert requests_filed() == []


def test_modification_form_comes_pre_filled(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    g2 = w.gestionnaire2
    resp = client.get(f"/gestion/demandes/modification?gestionnaire={g2.id}")
    assert resp.status_code == 200
    html = body(resp)
    assert "<html" in html
    form = html.split('action="/gestion/demandes/modification" novalidate>')[1].split("</form>")[0]
    for value in (g2.email, g2.nom, g2.prenom, g2.fonction, g2.telephone):
        assert f'value="{value}"' in form
    assert f'name="modification-target_id" type="hidden" value="{g2.id}"' in form

    partial = client.get(f"/gestion/demandes/modification?gestionnaire={g2.id}", headers=HTMX)
    assert partial.status_code == 200
    fragment = body(partial)
    assert fragment.lstrip().startswith(
        '<section class="fr-mb-6w" aria-labelledby="modification-title" id="demande-modification">')
    assert f'value="{g2.email}"' in fragment

    assert client.get(f"/gestion/demandes/modification?gestionnaire={w.other_gestionnaire.id}").status_code == 404
    assert client.get(f"/gestion/demandes/modification?gestionnaire={w.technicien.id}").status_code == 404


def test_request_a_modification(client, make, login, outbox):
    w = make.world()
    login(w.gestionnaire)
    g2 = w.gestionnaire2
    data = {"caisse_id": w.caisse.id, "target_id": g2.id, "civilite": g2.civilite, "nom": g2.nom,
            "prenom": g2.prenom, "fonction": "Directrice adjointe", "telephone": g2.telephone, "email": g2.email}
    resp = client.post("/gestion/demandes/modification", data=prefixed("modification", data))
    assert resp.status_code == 303, body(resp)[:3000]
    [req] = requests_filed()
    assert req.kind == RequestKind.MODIFICATION and req.target_account_id == g2.id
    assert req.payload["fonction"] == "Directrice adjointe"
    # A second identical request while the first waits is refused.
    resp = client.post("/gestion/demandes/modification", data=prefixed("modification", data))
    assert resp.status_code == 422
    assert "Une demande identique est déjà en attente pour ce gestionnaire." in body(resp)
    # Another partner's gestionnaire cannot be the target.
    resp = client.post("/gestion/demandes/modification",
                       data=prefixed("modification", {**data, "target_id": w.other_gestionnaire.id}))
    assert resp.status_code == 422
    assert "Choisissez un gestionnaire actif de votre structure." in body(resp)
    assert len(requests_filed()) == 1


def _inactivation(w, target, on):
    return prefixed("inactivation", {"caisse_id": w.caisse.id, "target_id": target.id, "wished_date": on})


def test_inactivation_needs_15_days_notice(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    too_soon = today() + timedelta(days=14)
    resp = client.post("/gestion/demandes/inactivation", data=_inactivation(w, w.gestionnaire2, too_soon.isoformat()))
    assert resp.status_code == 422
    html = body(resp)
    earliest = (today() + timedelta(days=15)).strftime("%d/%m/%Y")
    error = re.search(r'id="inactivation-wished_date-error">(.*?)</p>', html).group(1)
    assert error == (f"La demande doit être faite au moins 15 jours avant la date souhaitée : "
                     f"choisissez le {earliest} ou plus tard.")
    assert f'value="{too_soon.isoformat()}"' in html
    assert f'<option selected value="{w.gestionnaire2.id}">' in html
    assert requests_filed() == []

    on_time = today() + timedelta(days=15)
    resp = client.post("/gestion/demandes/inactivation", data=_inactivation(w, w.gestionnaire2, on_time.isoformat()))
    assert resp.status_code == 303
    [req] = requests_filed()
    assert req.kind == RequestKind.INACTIVATION and req.wished_date == on_time
    assert req.target_account_id == w.gestionnaire2.id
    row = body(client.get("/gestion/demandes")).split(f'<tr id="demande-{req.id}">')[1].split("</tr>")[0]
    assert f"à la date du {on_time.strftime('%d/%m/%Y')}" in row


def test_inactivation_date_typed_by_hand_in_french(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/demandes/inactivation", data=_inactivation(w, w.gestionnaire2, "31/02/2026"))
    assert resp.status_code == 422
    assert "Date invalide : utilisez le format jj/mm/aaaa." in body(resp)
    on = (today() + timedelta(days=20)).strftime("%d/%m/%Y")
    assert client.post("/gestion/demandes/inactivation", data=_inactivation(w, w.gestionnaire2, on)).status_code == 303


def test_the_only_active_gestionnaire_cannot_be_inactivated(client, make, login):
    caisse = make.caisse()
    p = make.partenaire(caisse)
    g = make.gestionnaire(p)
    login(g)
    on = (today() + timedelta(days=30)).isoformat()
    resp = client.post("/gestion/demandes/inactivation",
                       data=prefixed("inactivation", {"caisse_id": caisse.id, "target_id": g.id, "wished_date": on}))
    assert resp.status_code == 422
    error = re.search(r'id="inactivation-target_id-error">(.*?)</p>', body(resp)).group(1)
    assert error.startswith("Ce gestionnaire est le seul qui reste dans votre structure")
    assert requests_filed() == []


def test_the_list_shows_only_the_partners_requests(client, make, login, identity):
    w = make.world()
    login(w.other_gestionnaire, c=client)
    data = {"caisse_id": w.other_caisse.id, **identity(w.other_partenaire, 5)}
    assert client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data)).status_code == 303
    client.post("/deconnexion")
    login(w.gestionnaire)
    html = body(client.get("/gestion/demandes"))
    assert "CamilleF EssaiF" not in html
    assert "Aucune demande déposée pour l'instant." in html


def test_with_two_caisses_the_gestionnaire_chooses(client, make, login, identity, outbox):
    w = make.world()
    third = make.caisse()
    make.convention(w.partenaire, third)
    login(w.gestionnaire)
    html = body(client.get("/gestion/demandes"))
    assert '<option selected value="">— Choisir une caisse —</option>' in html
    assert third.name in html and w.caisse.name in html
    data = {"caisse_id": third.id, **identity(w.partenaire, 8)}
    assert client.post("/gestion/demandes/nouveau-gestionnaire", data=prefixed("creation", data)).status_code == 303
    [req] = requests_filed()
    assert req.caisse_id == third.id
    assert [m.template for m in outbox(third.referent_email)] == ["request_filed"]
    assert outbox(w.caisse.referent_email) == []
