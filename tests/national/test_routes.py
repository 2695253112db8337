"""The national administration's pages, through the client."""
import html
import re

import pytest
from sqlalchemy import select

from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, AuditEvent, Caisse, Profile

FORM = {
    "name": "CPAM de Test-sur-Mer",
    "code": "999",
    "departements": "2a, 2b",
    "address": "1 rue de l'Exemple\n20000 Testville",
    "referent_email": "partenaires@cpam-test.example",
    "autre_canal": "Téléphone : 01 23 45 67 89",
    "idle_inactivation_enabled": "y",
    "civilite": "Mme",
    "nom": "Exemple",
    "prenom": "Camille",
    "fonction": "Référente partenariat",
    "telephone": "01 23 45 67 80",
    "email": "camille.exemple@cpam-test.example",
}


def test_national_creates_a_caisse_and_its_first_referent(client, make, login, outbox):
    national = make.admin_national()
    login(national)
    assert "Créer une caisse" in client.get("/national/caisses").get_data(as_text=True)
    assert client.get("/national/caisses/nouvelle").status_code == 200

    resp = client.post("/national/caisses/nouvelle", data=FORM)
    assert resp.status_code == 303
    caisse = db.session.scalar(select(Caisse).where(Caisse.code == "999"))
    assert resp.headers["Location"].endswith(f"/national/caisses/{caisse.id}")
    assert caisse.departements == "2A,2B" and caisse.idle_inactivation_enabled is True

    account = db.session.scalar(select(Account).where(Account.email == "camille.exemple@cpam-test.example"))
    assert account.profile == Profile.ADMIN_CAISSE and account.caisse_id == caisse.id
    assert account.status == AccountStatus.PENDING
    mails = outbox("camille.exemple@cpam-test.example")
    assert len(mails) == 1
    assert "/activation/" in mails[0].body_text and account.login in mails[0].body_text

    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "CPAM de Test-sur-Mer" in page and account.login in page and "En attente d&#39;activation" in page

    # The link works: the referent can choose a password.
    token = re.search(r"/activation/([\w-]+)", mails[0].body_text).group(1)
    client.post("/deconnexion")
    assert client.get(f"/activation/{token}").status_code == 200


def test_bad_input_is_shown_next_to_the_field_and_kept(client, make, login, outbox):
    login(make.admin_national())
    resp = client.post("/national/caisses/nouvelle", data={**FORM, "departements": "20"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert 'id="departements-error"' in body and "2A ou 2B" in body
    assert 'aria-describedby="departements-error"' in body
    assert 'value="CPAM de Test-sur-Mer"' in body and 'value="camille.exemple@cpam-test.example"' in body
    assert db.session.scalar(select(Caisse).where(Caisse.code == "999")) is None
    assert outbox() == []

    # An error on the referent half: nothing is created either.
    resp = client.post("/national/caisses/nouvelle", data={**FORM, "email": "pas-une-adresse"})
    assert resp.status_code == 422
    assert 'id="email-error"' in resp.get_data(as_text=True)
    assert db.session.scalar(select(Caisse).where(Caisse.code == "999")) is None
    assert outbox() == []

    resp = client.post("/national/caisses/nouvelle", data={**FORM, "name": ""})
    assert resp.status_code == 422 and 'id="name-error"' in resp.get_data(as_text=True)


def test_caisses_list_counts_partners_and_referents(client, make, login):
    w = make.world()
    make.partenaire(w.caisse)
    make.admin_caisse(w.caisse, status=AccountStatus.PENDING)
    login(w.national)
    body = client.get("/national/caisses").get_data(as_text=True)
    row = re.search(rf"<tr>\s*<td><a href=\"/national/caisses/{w.caisse.id}\">.*?</tr>", body, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[3].strip() == "2"
    assert "1 actif" in cells[4] and "1 en attente" in cells[4]


def test_edit_caisse(client, make, login):
    w = make.world()
    login(w.national)
    assert client.get(f"/national/caisses/{w.caisse.id}/modifier").status_code == 200
    data = {k: FORM[k] for k in ("name", "code", "departements", "address", "referent_email", "autre_canal")}
    resp = client.post(f"/national/caisses/{w.caisse.id}/modifier", data=data)
    assert resp.status_code == 303
    db.session.refresh(w.caisse)
    assert w.caisse.name == "CPAM de Test-sur-Mer"
    # Unchecked box: the setting is turned off.
    assert w.caisse.idle_inactivation_enabled is False
    resp = client.post(f"/national/caisses/{w.caisse.id}/modifier", data={**data, "code": w.other_caisse.code})
    assert resp.status_code == 422 and 'id="code-error"' in resp.get_data(as_text=True)
    assert client.get("/national/caisses/99999").status_code == 404


def test_add_resend_and_inactivate_referents(client, make, login, outbox):
    w = make.world()
    login(w.national)
    identity = {k: FORM[k] for k in ("civilite", "nom", "prenom", "fonction", "telephone", "email")}
    resp = client.post(f"/national/caisses/{w.caisse.id}/referents/nouveau", data=identity)
    assert resp.status_code == 303
    new = db.session.scalar(select(Account).where(Account.email == identity["email"]))
    assert new.caisse_id == w.caisse.id and new.status == AccountStatus.PENDING
    assert len(outbox(identity["email"])) == 1

    resp = client.post(f"/national/caisses/{w.caisse.id}/referents/{new.id}/activation")
    assert resp.status_code == 303
    assert len(outbox(identity["email"])) == 2
    # An active account gets no activation link: the caisse page again, the reason on top.
    resp = client.post(f"/national/caisses/{w.caisse.id}/referents/{w.admin.id}/activation")
    assert resp.status_code == 422 and len(outbox(w.admin.email)) == 0
    page = html.unescape(resp.get_data(as_text=True))
    assert "Ce compte n'attend plus d'activation : aucun lien n'est renvoyé." in page
    assert w.caisse.name in page

    assert client.get(f"/national/caisses/{w.caisse.id}/referents/{w.admin.id}/inactiver").status_code == 200
    resp = client.post(f"/national/caisses/{w.caisse.id}/referents/{w.admin.id}/inactiver",
                       data={"reason": "Départ de l'agent"})
    assert resp.status_code == 303
    db.session.refresh(w.admin)
    assert w.admin.status == AccountStatus.INACTIVE and w.admin.inactivation_reason == "Départ de l'agent"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account_inactivated",
                                                      AuditEvent.target_id == w.admin.id))


def test_referent_routes_stay_within_the_caisse_and_profile(client, make, login):
    w = make.world()
    login(w.national)
    # Another caisse's referent through this caisse's URL, or a non-referent account: 404.
    for account in (w.other_admin, w.agent, w.gestionnaire):
        assert client.get(f"/national/caisses/{w.caisse.id}/referents/{account.id}/inactiver").status_code == 404
        assert client.post(f"/national/caisses/{w.caisse.id}/referents/{account.id}/inactiver").status_code == 404
        assert client.post(f"/national/caisses/{w.caisse.id}/referents/{account.id}/activation").status_code == 404
    db.session.refresh(w.other_admin)
    assert w.other_admin.status == AccountStatus.ACTIVE


def _national_routes(caisse_id, account_id):
    return [
        ("GET", "/national/caisses"),
        ("GET", "/national/caisses/nouvelle"),
        ("POST", "/national/caisses/nouvelle"),
        ("GET", f"/national/caisses/{caisse_id}"),
        ("GET", f"/national/caisses/{caisse_id}/modifier"),
        ("POST", f"/national/caisses/{caisse_id}/modifier"),
        ("GET", f"/national/caisses/{caisse_id}/referents/nouveau"),
        ("POST", f"/national/caisses/{caisse_id}/referents/nouveau"),
        ("GET", f"/national/caisses/{caisse_id}/referents/{account_id}/inactiver"),
        ("POST", f"/national/caisses/{caisse_id}/referents/{account_id}/inactiver"),
        ("POST", f"/national/caisses/{caisse_id}/referents/{account_id}/activation"),
        ("GET", "/national/journal"),
    ]


@pytest.mark.parametrize("who", ["technicien", "gestionnaire", "agent", "admin"])
def test_non_national_profiles_get_403_everywhere(client, make, login, who):
    w = make.world()
    login(getattr(w, who))
    for method, url in _national_routes(w.caisse.id, w.admin.id):
        resp = client.open(url, method=method, data=FORM if method == "POST" else None)
        assert resp.status_code == 403, (who, method, url)
    db.session.refresh(w.admin)
    assert w.admin.status == AccountStatus.ACTIVE
    assert db.session.scalar(select(Caisse).where(Caisse.code == "999")) is None


def test_anonymous_is_sent_to_login(client, make):
    w = make.world()
    for method, url in _national_routes(w.caisse.id, w.admin.id):
        resp = client.open(url, method=method)
        assert resp.status_code == 302 and "/connexion" in resp.headers["Location"], url


def test_a_refused_caisse_comes_back_with_the_domains_message_and_what_was_typed(client, make, login):
    w = make.world()
    login(w.national)
    resp = client.post("/national/caisses/nouvelle", data={**FORM, "code": w.caisse.code})
    assert resp.status_code == 422
    page = html.unescape(resp.get_data(as_text=True))
    message = re.search(r'id="code-error"[^>]*>(.*?)</div>', page, re.S)
    assert message and f"Le code {w.caisse.code} est déjà celui d'une autre caisse." in message.group(1)
    assert 'value="CPAM de Test-sur-Mer"' in page  # what was typed is kept
    assert db.session.scalar(select(Caisse).where(Caisse.name == FORM["name"])) is None


def test_national_loaders_are_404_for_what_does_not_exist(client, make, login):
    w = make.world()
    login(w.national)
    assert client.get("/national/caisses/999999").status_code == 404
    assert client.post("/national/caisses/999999/referents/nouveau", data=FORM).status_code == 404
    assert client.post("/national/taches/emails/999999/renvoyer").status_code == 404
