"""Partner accounts managed by the caisse: fraud inactivation, gestionnaire
changes and leaving date, activation links, review campaigns."""
from datetime import date

from sqlalchemy import select

from ep_web.extensions import db
from ep_web.models import AccountStatus, HabilitationReview
from tests.caisse.helpers import gestionnaire_form, text


def test_caisse_inactivates_a_technicien_for_fraud(app, client, make, login, outbox):
    w = make.world()
    tech_client = app.test_client()
    login(w.technicien, c=tech_client)
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/comptes/{w.technicien.id}/inactiver"

    resp = client.post(url, data={"reason": "   "})
    assert resp.status_code == 422
    assert "Indiquez le motif de l'inactivation." in text(resp)
    assert 'id="reason-error"' in resp.get_data(as_text=True)
    assert w.technicien.status == AccountStatus.ACTIVE

    resp = client.post(url, data={"reason": "Usurpation d'identité signalée", "confirmed": "1"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.technicien.status == AccountStatus.INACTIVE
    assert w.technicien.inactivation_reason == "Usurpation d'identité signalée"
    # SPEC §3 [4.1]: the partner's gestionnaires are notified; the session ends.
    for g in (w.gestionnaire, w.gestionnaire2):
        assert [m.template for m in outbox(g.email)] == ["inactivation_notice"]
    resp = tech_client.get("/")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]
    page = text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))
    assert "gestionnaires 2 / 3 · techniciens 0 / 15" in page and "Usurpation d'identité signalée" in page


def test_htmx_inactivation_swaps_the_row_and_the_quotas(client, make, login):
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/comptes/{w.technicien.id}/inactiver"
    hx = {"HX-Request": "true"}

    resp = client.post(url, data={"reason": ""}, headers=hx)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "<html" not in body
    assert f'<tr id="compte-{w.technicien.id}">' in body and "Indiquez le motif de l'inactivation." in text(resp)
    assert f'aria-describedby="reason-{w.technicien.id}-error"' in body

    resp = client.post(url, data={"reason": "Perte du poste de travail", "confirmed": "1"}, headers=hx)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body
    assert f'<tr id="compte-{w.technicien.id}">' in body and "Inactif" in body and "Compte inactivé." in body
    assert 'id="quotas"' in body and 'hx-swap-oob="true"' in body
    assert "techniciens 0 / 15" in text(resp)


def test_gestionnaire_inactivation_needs_a_reason_and_keeps_techniciens_attached(client, make, login):
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/comptes/{w.gestionnaire.id}/inactiver"
    assert client.post(url, data={"reason": "Départ précipité", "confirmed": "1"}).status_code == 303
    db.session.expire_all()
    assert w.gestionnaire.status == AccountStatus.INACTIVE
    assert w.technicien.status == AccountStatus.ACTIVE and w.technicien.manager_id == w.gestionnaire2.id


def test_modify_gestionnaire(client, make, login):
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/gestionnaires/{w.gestionnaire.id}"
    body = client.get(url).get_data(as_text=True)
    assert f'value="{w.gestionnaire.nom}"' in body and f'value="{w.gestionnaire.email}"' in body

    domain = w.partenaire.domain_list[0]
    resp = client.post(url, data=gestionnaire_form(nom="Nouveaunom", email="perso@orange.fr"))
    assert resp.status_code == 422
    assert 'value="Nouveaunom"' in resp.get_data(as_text=True)
    assert "messagerie personnelle (orange.fr)" in text(resp)

    resp = client.post(url, data=gestionnaire_form(nom="Nouveaunom", email=f"nouveau@{domain}", telephone=""))
    assert resp.status_code == 422 and "Indiquez le téléphone." in text(resp)

    resp = client.post(url, data=gestionnaire_form(nom="Nouveaunom", email=f"nouveau@{domain}"))
    assert resp.status_code == 303
    db.session.expire_all()
    assert (w.gestionnaire.nom, w.gestionnaire.email) == ("Nouveaunom", f"nouveau@{domain}")


def test_schedule_gestionnaire_inactivation(client, make, login, clock):
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/gestionnaires/{w.gestionnaire.id}/inactivation-programmee"

    resp = client.post(url, data={"s-on": "2026-03-01"})  # yesterday
    assert resp.status_code == 422 and "La date doit être aujourd'hui ou plus tard." in text(resp)
    assert 'id="s-on-error"' in resp.get_data(as_text=True)

    resp = client.post(url, data={"s-on": "20/03/2026"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.gestionnaire.scheduled_inactivation_on == date(2026, 3, 20)
    assert w.gestionnaire.status == AccountStatus.ACTIVE
    assert "Inactivation prévue le 20/03/2026" in text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))

    # The other gestionnaire is then the only active one once this one leaves now.
    client.post(f"/caisse/partenaires/{w.partenaire.id}/comptes/{w.gestionnaire.id}/inactiver",
                data={"reason": "Départ"})
    url2 = f"/caisse/partenaires/{w.partenaire.id}/gestionnaires/{w.gestionnaire2.id}/inactivation-programmee"
    resp = client.post(url2, data={"s-on": "2026-04-01"})
    assert resp.status_code == 422
    assert "C'est le seul gestionnaire de la structure qui reste" in text(resp)


def test_resend_activation_link_for_pending_accounts_only(client, make, login, outbox):
    w = make.world()
    pending = make.gestionnaire(w.partenaire, status=AccountStatus.PENDING)
    login(w.admin)
    base = f"/caisse/partenaires/{w.partenaire.id}/comptes"

    resp = client.post(f"{base}/{pending.id}/lien-activation")
    assert resp.status_code == 303
    assert [m.template for m in outbox(pending.email)] == ["activation"]

    resp = client.post(f"{base}/{pending.id}/lien-activation", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and f"Lien d'activation renvoyé à {pending.email}." in text(resp)
    assert len(outbox(pending.email)) == 2

    resp = client.post(f"{base}/{w.technicien.id}/lien-activation", follow_redirects=True)
    assert "aucun lien d'activation à renvoyer" in text(resp)
    assert outbox(w.technicien.email) == []


def test_review_campaign_progress_and_overdue(app, client, make, login, clock, outbox):
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/revue"

    resp = client.post(url, data={"review-deadline": "2026-03-02"})  # today: refused
    assert resp.status_code == 422 and "L'échéance doit être postérieure à aujourd'hui." in text(resp)

    resp = client.post(url, data={"review-deadline": "2026-03-16"})
    assert resp.status_code == 303
    review = db.session.scalar(select(HabilitationReview))
    assert len(review.items) == 3  # 2 gestionnaires + 1 technicien
    assert outbox(w.gestionnaire.email)[0].template == "review_opened"
    page = text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))
    assert "Revue en cours, échéance le 16/03/2026" in page and "Comptes revus : 0 / 3" in page
    assert "En retard" not in page

    clock.advance(days=15)
    late = app.test_client()
    login(w.admin, c=late)
    page = text(late.get(f"/caisse/partenaires/{w.partenaire.id}"))
    assert "Comptes revus : 0 / 3" in page and "En retard" in page
    assert w.technicien.full_name in page  # listed as unanswered


def test_one_click_inactivation_without_javascript_leads_to_the_confirmation_page(client, make, login):
    """The row's form posts at once; without the JS dialog's flag the caisse gets
    the inactivation page (the reason kept) instead of an inactivated account."""
    w = make.world()
    login(w.admin)
    url = f"/caisse/partenaires/{w.partenaire.id}/comptes/{w.technicien.id}/inactiver"
    resp = client.post(url, data={"reason": "Poste volé"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" in page and "Poste volé" in page
    assert 'name="confirmed" value="1"' in page and "Annuler" in page
    db.session.expire_all()
    assert w.technicien.status == AccountStatus.ACTIVE
    assert client.post(url, data={"reason": "Poste volé", "confirmed": "1"}).status_code == 303
    db.session.expire_all()
    assert w.technicien.status == AccountStatus.INACTIVE
