"""The caisse's agent accounts."""
from sqlalchemy import select

from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Profile
from tests.caisse.helpers import text


def _agent_form(**overrides):
    data = {"civilite": "Mme", "nom": "Agentfictive", "prenom": "Claire", "fonction": "Conseillère",
            "telephone": "", "email": "claire.agentfictive@cpam-fictive.example"}
    data.update(overrides)
    return {f"a-{k}": v for k, v in data.items()}


def test_create_agent_sends_activation(client, make, login, outbox):
    w = make.world()
    login(w.admin)
    page = text(client.get("/caisse/agents"))
    assert w.agent.full_name in page
    resp = client.post("/caisse/agents", data=_agent_form())
    assert resp.status_code == 303
    agent = db.session.scalar(select(Account).where(Account.email == "claire.agentfictive@cpam-fictive.example"))
    assert agent.profile == Profile.AGENT and agent.caisse_id == w.caisse.id and agent.status == AccountStatus.PENDING
    assert [m.template for m in outbox(agent.email)] == ["activation"]

    resp = client.post("/caisse/agents", data=_agent_form(nom=""))
    assert resp.status_code == 422 and 'id="a-nom-error"' in resp.get_data(as_text=True)
    resp = client.post("/caisse/agents", data=_agent_form(prenom="Doublon"))
    assert resp.status_code == 422
    assert "Un compte de ce profil existe déjà avec cette adresse." in text(resp)
    assert 'value="Doublon"' in resp.get_data(as_text=True)


def test_inactivate_agent_with_reason_and_isolation(client, make, login):
    w = make.world()
    other_agent = make.agent(w.other_caisse)
    login(w.admin)
    assert other_agent.full_name not in text(client.get("/caisse/agents"))
    assert client.post(f"/caisse/agents/{other_agent.id}/inactiver", data={"reason": "x"}).status_code == 404
    assert client.get(f"/caisse/agents/{other_agent.id}/inactiver").status_code == 404
    assert client.post(f"/caisse/agents/{other_agent.id}/lien-activation").status_code == 404
    # A partner account is not an agent.
    assert client.post(f"/caisse/agents/{w.technicien.id}/inactiver", data={"reason": "x"}).status_code == 404

    resp = client.post(f"/caisse/agents/{w.agent.id}/inactiver", data={"reason": ""}, headers={"HX-Request": "true"})
    assert resp.status_code == 422 and f'<tr id="agent-{w.agent.id}">' in resp.get_data(as_text=True)
    assert "Indiquez le motif de l'inactivation." in text(resp)
    resp = client.post(f"/caisse/agents/{w.agent.id}/inactiver",
                       data={"reason": "Départ de la caisse", "confirmed": "1"})
    assert resp.status_code == 303
    db.session.expire_all()
    assert w.agent.status == AccountStatus.INACTIVE and other_agent.status == AccountStatus.ACTIVE


def test_audit_log_page(client, make, login):
    w = make.world()
    login(w.admin)
    client.post(f"/caisse/partenaires/{w.partenaire.id}/suspendre",
                data={"suspend-reason": "Contrôle", "confirmed": "1"})
    resp = client.get("/caisse/journal")
    assert resp.status_code == 200
    assert "Partenaire suspendu" in text(resp)


def test_a_failed_submit_lists_every_error_at_the_top_each_linked_to_its_field(client, make, login):
    """The DSFR error summary: one pass shows every field in error, each a link
    to its field (static/js/app.js moves the focus to the summary)."""
    caisse = make.caisse()
    login(make.admin_caisse(caisse))
    resp = client.post("/caisse/agents", data=_agent_form(nom="", prenom="", email="pas-une-adresse"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    summary = html.split("data-ep-error-summary", 1)[1].split("</div>", 1)[0]
    assert "3 erreurs sont à corriger" in summary
    for field in ("nom", "prenom", "email"):
        assert f'href="#a-{field}"' in summary and f'id="a-{field}-error"' in html
    assert 'value="pas-une-adresse"' in html
