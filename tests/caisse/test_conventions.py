"""Conventions managed by the caisse, and the SPEC §3 end-of-convention rule."""
from datetime import date

from ep_web.extensions import db
from ep_web.models import AccountStatus, ConventionState
from tests.caisse.helpers import gestionnaire_form, partner_accounts, text


def _conv(w):
    return w.partenaire.conventions[0]


def test_terminate_last_convention_inactivates_every_account(app, client, make, login):
    w = make.world()
    conv = _conv(w)
    tech_client = app.test_client()
    login(w.technicien, c=tech_client)
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}/fin"

    page = text(client.get(url))
    assert "tous ses comptes seront inactivés" in page

    resp = client.post(url, data={"mode": "resiliee", "reason": ""})
    assert resp.status_code == 422 and "Indiquez le motif de la fin de la convention." in text(resp)
    assert conv.state == ConventionState.ACTIVE

    resp = client.post(url, data={"mode": "resiliee", "reason": "Manquements répétés à la convention"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert conv.state == ConventionState.RESILIEE and conv.end_reason == "Manquements répétés à la convention"
    assert {a.status for a in partner_accounts(w.partenaire)} == {AccountStatus.INACTIVE}
    assert all(a.inactivation_reason == "Fin de convention" for a in partner_accounts(w.partenaire))
    resp = tech_client.get("/")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]

    # The caisse keeps seeing the file, without actions, and may sign again.
    resp = client.get(f"/caisse/partenaires/{w.partenaire.id}", follow_redirects=True)
    page = text(resp)
    assert "Résiliée" in page and "3 compte(s) inactivé(s)" in page
    assert "Pas de convention en cours avec votre caisse" in page and "Nouvelle convention" in page
    assert "Créer un compte gestionnaire" not in page
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires", data=gestionnaire_form(
        email=f"x@{w.partenaire.domain_list[0]}"))
    assert resp.status_code == 403
    assert "Seule une caisse en convention avec la structure crée ses gestionnaires." in text(resp)


def test_terminate_with_another_convention_keeps_the_accounts(client, make, login):
    w = make.world()
    make.convention(w.partenaire, w.other_caisse)
    conv = [c for c in w.partenaire.conventions if c.caisse_id == w.caisse.id][0]
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}/fin"
    assert f"garde une convention en cours avec la {w.other_caisse.name}" in text(client.get(url))
    resp = client.post(url, data={"mode": "terminee", "reason": "Arrivée à son terme"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert conv.state == ConventionState.TERMINEE
    assert {a.status for a in partner_accounts(w.partenaire)} == {AccountStatus.ACTIVE}


def test_services_renew_denounce(client, make, login):
    w = make.world()
    conv = _conv(w)
    base = f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}"
    login(w.admin)

    body = client.get(f"{base}/services").get_data(as_text=True)
    assert body.count("checked") == 6
    assert client.post(f"{base}/services", data={"services": ["contact", "document"]}).status_code == 303
    db.session.expire_all()
    assert conv.services == ["contact", "document"]
    resp = client.post(f"{base}/services", data={"services": ["teleportation"]})
    assert resp.status_code == 422 and "Service inconnu : teleportation" in text(resp)

    ends = conv.ends_on
    assert client.post(f"{base}/renouveler").status_code == 303
    db.session.expire_all()
    assert conv.ends_on == ends.replace(year=ends.year + 1)

    resp = client.post(f"{base}/denoncer", data={"confirmed": "1"}, follow_redirects=True)
    db.session.expire_all()
    assert conv.state == ConventionState.DENONCEE and not conv.tacit_renewal
    assert "Convention dénoncée" in text(resp)
    resp = client.post(f"{base}/denoncer", data={"confirmed": "1"}, follow_redirects=True)
    assert "Seule une convention active peut être dénoncée." in text(resp)

    page = text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))
    assert "Dénoncée" in page and "data-confirm" in client.get(
        f"/caisse/partenaires/{w.partenaire.id}").get_data(as_text=True)


def test_new_convention_after_an_end(client, make, login):
    w = make.world()
    conv = _conv(w)
    login(w.admin)
    client.post(f"/caisse/partenaires/{w.partenaire.id}/conventions/{conv.id}/fin",
                data={"mode": "terminee", "reason": "Fin"})
    url = f"/caisse/partenaires/{w.partenaire.id}/conventions/nouvelle"
    assert 'value="2026-03-02"' in client.get(url).get_data(as_text=True)
    resp = client.post(url, data={"signed_on": "2026-03-02", "ends_on": "", "services": ["contact"],
                                  "tacit_renewal": "y"})
    assert resp.status_code == 303
    db.session.expire_all()
    new = [c for c in w.partenaire.conventions if c.id != conv.id][0]
    assert new.ends_on == date(2027, 3, 2) and new.services == ["contact"]
    # One convention in force per caisse: a second one is refused.
    resp = client.post(url, data={"signed_on": "2026-03-02", "services": ["contact"]})
    assert resp.status_code == 422 and "Une convention en cours existe déjà" in text(resp)
