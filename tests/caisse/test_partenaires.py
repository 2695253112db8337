"""Partners and their conventions, seen and managed by the référent partenariat."""
from datetime import date

import pytest
from sqlalchemy import func, select

from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Convention, ConventionState, Partenaire, Profile
from tests.caisse.helpers import gestionnaire_form, partenaire_form, text


def _partenaire(name: str) -> Partenaire:
    return db.session.scalar(select(Partenaire).where(Partenaire.name == name))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_story_partner_convention_and_gestionnaire_activation_email(client, make, login, outbox):
    caisse = make.caisse()
    admin = make.admin_caisse(caisse)
    login(admin)

    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form())
    assert resp.status_code == 303
    p = _partenaire("CCAS de Villefictive")
    assert resp.headers["Location"].endswith(f"/caisse/partenaires/{p.id}")
    assert p.members == 12 and p.domain_list == ["ccas-villefictive.example"]
    conv = db.session.scalar(select(Convention).where(Convention.partenaire_id == p.id))
    assert conv.caisse_id == caisse.id and conv.state == ConventionState.ACTIVE
    # End date left blank: one year after signature (SPEC §2).
    assert (conv.signed_on, conv.ends_on) == (date(2026, 3, 2), date(2027, 3, 2))
    assert conv.services == ["contact", "signalement", "document"] and conv.tacit_renewal

    page = text(client.get(f"/caisse/partenaires/{p.id}"))
    assert "gestionnaires 0 / 3 · techniciens 0 / 15" in page

    resp = client.post(f"/caisse/partenaires/{p.id}/gestionnaires", data=gestionnaire_form())
    assert resp.status_code == 303
    g = db.session.scalar(select(Account).where(Account.email == "alice.fictif@ccas-villefictive.example"))
    assert g.profile == Profile.GESTIONNAIRE and g.status == AccountStatus.PENDING and g.partenaire_id == p.id
    mails = outbox("alice.fictif@ccas-villefictive.example")
    assert len(mails) == 1 and mails[0].template == "activation"
    assert g.login in mails[0].body_text and "/activation/" in mails[0].body_text

    page = text(client.get(f"/caisse/partenaires/{p.id}"))
    assert "gestionnaires 1 / 3" in page and "En attente d'activation" in page
    assert "Compte gestionnaire créé pour Alice Fictif" in page


def test_gestionnaire_quota_refused_with_message_and_typed_values_kept(client, make, login, outbox):
    w = make.world()  # 12 members, 2 gestionnaires already
    make.gestionnaire(w.partenaire)
    login(w.admin)
    before = _count(Account)
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires",
                       data=gestionnaire_form(email=f"quatrieme@{w.partenaire.domain_list[0]}", prenom="Quatrième"))
    assert resp.status_code == 422
    page = text(resp)
    assert "Quota atteint : 3 / 3 gestionnaires pour une structure de 12 membres." in page
    body = resp.get_data(as_text=True)
    assert 'value="Quatrième"' in body and f'value="quatrieme@{w.partenaire.domain_list[0]}"' in body
    assert _count(Account) == before
    assert outbox(f"quatrieme@{w.partenaire.domain_list[0]}") == []


def test_webmail_refused_next_to_the_email_field(client, make, login):
    w = make.world()
    login(w.admin)
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires",
                       data=gestionnaire_form(email="alice.fictif@gmail.com"))
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert 'id="g-email-error"' in body
    assert "Les adresses de messagerie personnelle (gmail.com) sont refusées" in body
    assert 'value="alice.fictif@gmail.com"' in body


def test_email_outside_registered_domains_refused(client, make, login):
    w = make.world()
    login(w.admin)
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/gestionnaires",
                       data=gestionnaire_form(email="alice@autre-structure.example"))
    assert resp.status_code == 422
    assert "L'adresse doit utiliser un domaine enregistré par la structure" in text(resp)


def test_list_shows_only_this_caisse_partners_with_seats_and_filters(client, make, login):
    w = make.world()
    other = make.partenaire(w.caisse, members=30, name="Association Horizon fictive")
    make.convention(other, w.other_caisse)
    ended = make.partenaire(None, name="Ancien partenaire fictif")
    make.convention(ended, w.caisse, state=ConventionState.TERMINEE, signed_on=date(2024, 1, 1),
                    ends_on=date(2025, 1, 1))
    ended.suspended_at = w.caisse.created_at
    db.session.commit()
    login(w.admin)

    page = text(client.get("/caisse/partenaires"))
    assert w.partenaire.name in page and other.name in page and ended.name in page
    assert w.other_partenaire.name not in page
    # world partner: 2 gestionnaires and 1 technicien, 12 members.
    assert "gestionnaires 2 / 3 · techniciens 1 / 15" in page
    assert "gestionnaires 0 / 5 · techniciens 0 / 25" in page
    assert "Terminée" in page and "Accès suspendu" in page

    resp = client.get("/caisse/partenaires?q=horizon")
    page = text(resp)
    assert other.name in page and w.partenaire.name not in page
    assert "<html" in resp.get_data(as_text=True)

    # htmx: the results region only, so the list updates in place.
    resp = client.get("/caisse/partenaires?q=horizon", headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body and 'id="partenaires-results"' in body
    assert other.name in body and "HX-Request" in resp.headers["Vary"]

    page = text(client.get("/caisse/partenaires?q=zzz%25"))
    assert "Aucune structure de la caisse ne contient « zzz% »" in page


def test_new_partner_errors_keep_everything_typed_and_create_nothing(client, make, login):
    w = make.world()
    login(w.admin)
    partners, conventions = _count(Partenaire), _count(Convention)

    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(siret="123 456 789 00010"))
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert 'id="siret-error"' in body and "SIRET invalide" in body
    assert 'value="CCAS de Villefictive"' in body and 'value="123 456 789 00010"' in body
    assert "ccas-villefictive.example</textarea>" in body

    # The convention fails after the partner was flushed: the whole transaction goes.
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(ends_on="2026-01-01"))
    assert resp.status_code == 422
    assert "La date de fin doit être postérieure à la date de signature." in text(resp)
    assert 'id="ends_on-error"' in resp.get_data(as_text=True)

    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(name="", members="douze",
                                                                           signed_on="31/02/2026"))
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert 'id="name-error"' in body and 'id="signed_on-error"' in body and "Date invalide" in body
    assert 'value="douze"' in body

    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(members="douze"))
    assert resp.status_code == 422
    assert "Indiquez le nombre de membres (un nombre entier)." in text(resp)

    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(habilite_documents="y"))
    assert resp.status_code == 422
    assert "Seuls les mandataires/tutelles" in text(resp)

    assert (_count(Partenaire), _count(Convention)) == (partners, conventions)


def test_new_partner_form_defaults_and_site(client, make, login):
    w = make.world()
    login(w.admin)
    body = client.get("/caisse/partenaires/nouveau").get_data(as_text=True)
    assert 'value="2026-03-02"' in body  # signature date defaults to today
    assert w.partenaire.name in body and w.other_partenaire.name not in body  # parent choices
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(
        name="UTAMS Nord fictive", type="collectivite", members="40", parent_id=str(w.partenaire.id),
        signed_on="02/03/2026", ends_on="31/12/2026"))
    assert resp.status_code == 303
    site = _partenaire("UTAMS Nord fictive")
    assert site.parent_id == w.partenaire.id
    assert site.conventions[0].ends_on == date(2026, 12, 31)
    # Another caisse's partner cannot be chosen as parent.
    resp = client.post("/caisse/partenaires/nouveau", data=partenaire_form(
        name="Site pirate", parent_id=str(w.other_partenaire.id)))
    assert resp.status_code == 422 and "Structure parente inconnue." in text(resp)


def test_edit_partner_changes_quotas(client, make, login):
    w = make.world()
    login(w.admin)
    body = client.get(f"/caisse/partenaires/{w.partenaire.id}/modifier").get_data(as_text=True)
    assert f'value="{w.partenaire.name}"' in body and 'value="12"' in body
    data = partenaire_form(name=w.partenaire.name, members="30", email_domains=w.partenaire.email_domains)
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/modifier", data=data)
    assert resp.status_code == 303
    assert w.partenaire.members == 30
    assert "gestionnaires 2 / 5 · techniciens 1 / 25" in text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))


def test_suspend_ends_the_partner_sessions(app, client, make, login):
    w = make.world()
    tech_client = app.test_client()
    login(w.technicien, c=tech_client)
    assert tech_client.get("/").status_code == 200
    login(w.admin)

    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/suspendre", data={"suspend-reason": "  "})
    assert resp.status_code == 422
    assert 'id="suspend-reason-error"' in resp.get_data(as_text=True)
    assert "Indiquez le motif de la suspension." in text(resp)
    assert not w.partenaire.is_suspended

    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/suspendre",
                       data={"suspend-reason": "Usage frauduleux de comptes", "confirmed": "1"})
    assert resp.status_code == 303
    resp = tech_client.get("/")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]
    page = text(client.get(f"/caisse/partenaires/{w.partenaire.id}"))
    assert "Accès de la structure suspendu" in page and "Usage frauduleux de comptes" in page
    # Logging in again is refused too while suspended.
    assert tech_client.post("/connexion", data={"login": w.technicien.login,
                                                "password": "Tres-Solide-Motdepasse-42!"}).status_code != 302

    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/lever-suspension")
    assert resp.status_code == 303 and not w.partenaire.is_suspended
    login(w.technicien, c=tech_client)


def _partner_routes(p, conv, account, gestionnaire):
    base = f"/caisse/partenaires/{p.id}"
    return [
        ("get", base), ("get", f"{base}/modifier"), ("post", f"{base}/modifier"),
        ("get", f"{base}/conventions/nouvelle"), ("post", f"{base}/conventions/nouvelle"),
        ("get", f"{base}/conventions/{conv.id}/services"), ("post", f"{base}/conventions/{conv.id}/services"),
        ("post", f"{base}/conventions/{conv.id}/renouveler"), ("post", f"{base}/conventions/{conv.id}/denoncer"),
        ("get", f"{base}/conventions/{conv.id}/fin"), ("post", f"{base}/conventions/{conv.id}/fin"),
        ("post", f"{base}/suspendre"), ("post", f"{base}/lever-suspension"), ("post", f"{base}/revue"),
        ("post", f"{base}/gestionnaires"),
        ("get", f"{base}/gestionnaires/{gestionnaire.id}"), ("post", f"{base}/gestionnaires/{gestionnaire.id}"),
        ("post", f"{base}/gestionnaires/{gestionnaire.id}/inactivation-programmee"),
        ("get", f"{base}/comptes/{account.id}/inactiver"), ("post", f"{base}/comptes/{account.id}/inactiver"),
        ("post", f"{base}/comptes/{account.id}/lien-activation"),
    ]


def test_another_caisse_partner_is_404_everywhere(client, make, login):
    w = make.world()
    conv = w.other_partenaire.conventions[0]
    login(w.admin)
    data = {"reason": "fraude", "suspend-reason": "fraude", "mode": "resiliee", "review-deadline": "2026-04-01",
            "s-on": "2026-04-01", "services": ["contact"], **gestionnaire_form(), **partenaire_form()}
    for method, url in _partner_routes(w.other_partenaire, conv, w.other_technicien, w.other_gestionnaire):
        resp = getattr(client, method)(url, data=data if method == "post" else None)
        assert resp.status_code == 404, (method, url, resp.status_code)
    # Nothing changed on the other side.
    db.session.expire_all()
    assert w.other_technicien.status == AccountStatus.ACTIVE and not w.other_partenaire.is_suspended
    assert conv.state == ConventionState.ACTIVE and len(conv.services) == 6
    assert w.other_partenaire.members == 12 and w.other_partenaire.name != "CCAS de Villefictive"


def test_mixing_own_partner_with_foreign_objects_is_404(client, make, login):
    w = make.world()
    foreign_conv = w.other_partenaire.conventions[0]
    base = f"/caisse/partenaires/{w.partenaire.id}"
    login(w.admin)
    for method, url in [
        ("get", f"{base}/conventions/{foreign_conv.id}/services"),
        ("get", f"{base}/conventions/{foreign_conv.id}/fin"),
        ("get", f"{base}/gestionnaires/{w.other_gestionnaire.id}"),
        ("get", f"{base}/gestionnaires/{w.technicien.id}"),  # not a gestionnaire
        ("post", f"{base}/comptes/{w.other_technicien.id}/inactiver"),
        ("post", f"{base}/comptes/{w.agent.id}/inactiver"),
    ]:
        assert getattr(client, method)(url, data={"reason": "x"}).status_code == 404, url
    db.session.expire_all()
    assert w.other_technicien.status == AccountStatus.ACTIVE and w.agent.status == AccountStatus.ACTIVE


@pytest.mark.parametrize("who", ["technicien", "gestionnaire", "agent", "national"])
def test_other_profiles_are_refused(client, make, login, who):
    w = make.world()
    login(getattr(w, who))
    for url in ["/caisse/partenaires", "/caisse/partenaires/nouveau", f"/caisse/partenaires/{w.partenaire.id}",
                "/caisse/demandes", "/caisse/agents", "/caisse/journal"]:
        assert client.get(url).status_code == 403, url
    assert client.post(f"/caisse/partenaires/{w.partenaire.id}/suspendre",
                       data={"suspend-reason": "x"}).status_code == 403
    assert not w.partenaire.is_suspended


def test_anonymous_is_sent_to_login(client, make):
    w = make.world()
    resp = client.get(f"/caisse/partenaires/{w.partenaire.id}")
    assert resp.status_code == 302 and "/connexion" in resp.headers["Location"]


def test_domain_a_structure_with_sites_cannot_become_a_site(make):
    from ep_web.domain.errors import DomainError
    from ep_web.domain.partenaires import update_partenaire

    w = make.world()
    main = make.partenaire(w.caisse, name="Département fictif")
    site = make.partenaire(w.caisse, name="UTAMS fictive", parent_id=main.id)
    data = {"name": main.name, "type": "collectivite", "members": 30, "parent_id": w.partenaire.id}
    with pytest.raises(DomainError) as exc:
        update_partenaire(w.admin, main, data)
    assert exc.value.field == "parent_id" and "a des sites" in exc.value.message
    # A site stays attachable to another main structure.
    assert "parent_id" in update_partenaire(w.admin, site, {**data, "name": site.name})
    assert site.parent_id == w.partenaire.id


def test_edit_refusal_on_a_hidden_parent_field_is_still_shown(client, make, login):
    w = make.world()
    make.partenaire(w.caisse, name="Site fictif", parent_id=w.partenaire.id)
    other_main = make.partenaire(w.caisse, name="Autre structure fictive")
    login(w.admin)
    data = partenaire_form(name=w.partenaire.name, email_domains=w.partenaire.email_domains,
                           parent_id=str(other_main.id))
    resp = client.post(f"/caisse/partenaires/{w.partenaire.id}/modifier", data=data)
    assert resp.status_code == 422
    assert 'id="parent_id-error"' in resp.get_data(as_text=True) and "a des sites" in text(resp)
