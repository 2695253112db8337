"""A refusal from the domain reaches the gestionnaire with its message: 403 and
the reason, on the page (in the row) or, for htmx, as an alert for #flash."""
import html as html_lib

import pytest

import ep_web.domain.accounts as account_rules
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus
from tests.gestion.conftest import HTMX

# action → (status of the technicien it applies to, the domain's refusal)
ACTIONS = {
    "inactiver": (AccountStatus.ACTIVE, "Vous ne pouvez pas inactiver ce compte."),
    "reactiver": (AccountStatus.INACTIVE, "Vous ne pouvez pas réactiver ce compte."),
    "signaler": (AccountStatus.ACTIVE, "Vous ne pouvez pas signaler ce compte."),
    "lien-activation": (AccountStatus.PENDING, "Vous ne pouvez pas gérer ce compte."),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_not_allowed_answers_403_with_the_domains_message(client, make, login, monkeypatch, action):
    """The loader lets the request through; the domain checks again (defence in
    depth) and refuses — simulated here by its permission predicate saying no."""
    w = make.world()
    status, message = ACTIONS[action]
    t = make.technicien(w.partenaire, status=status)
    login(w.gestionnaire)
    monkeypatch.setattr(account_rules, "can_manage_account", lambda actor, account: False)
    url = f"/gestion/techniciens/{t.id}/{action}"

    resp = client.post(url, data={"reason": "Identifiants prêtés", "confirmed": "1"})
    page = html_lib.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 403 and "<html" in page
    assert message in page.split(f'<tr id="technicien-{t.id}">')[1].split("</tr>")[0]  # on its row

    resp = client.post(url, data={"reason": "Identifiants prêtés", "confirmed": "1"}, headers=HTMX)
    fragment = html_lib.unescape(resp.get_data(as_text=True))
    assert resp.status_code == 403 and "<html" not in fragment
    assert message in fragment and 'role="alert"' in fragment and resp.headers["HX-Reswap"] == "none"

    db.session.expire_all()
    assert db.session.get(Account, t.id).status == status


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "99999999999999999999"])
def test_a_gestionnaire_id_that_is_no_id_is_a_404_or_a_message_never_a_500(client, make, login, raw):
    w = make.world()
    login(w.gestionnaire)
    assert client.get(f"/gestion/demandes/modification?gestionnaire={raw}").status_code == 404
    data = {"caisse_id": w.caisse.id, "target_id": raw, "civilite": "Mme", "nom": "Essai", "prenom": "Camille",
            "fonction": "", "telephone": "01 23 45 67 89", "email": f"camille@{w.partenaire.domain_list[0]}"}
    resp = client.post("/gestion/demandes/modification", data={f"modification-{k}": v for k, v in data.items()})
    assert resp.status_code == 422
    assert "Choisissez un gestionnaire actif de votre structure." in html_lib.unescape(resp.get_data(as_text=True))
