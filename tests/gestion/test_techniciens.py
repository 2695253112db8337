"""The gestionnaire's dashboard: techniciens, quota, inactivation, reactivation,
misuse report (SPEC §3), through the HTTP client, with and without htmx."""
import html as html_lib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ep_web.domain import accounts
from ep_web.domain.quotas import seats_used
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, AuditEvent, Profile
from ep_web.transaction import commit
from tests.gestion.conftest import HTMX


def body(resp) -> str:
    """The response text, HTML entities decoded (Jinja escapes apostrophes)."""
    return html_lib.unescape(resp.get_data(as_text=True))


def counter(html: str) -> str:
    """The text of the #quota-counter element, tags removed, spaces collapsed."""
    match = re.search(r'<p id="quota-counter"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no #quota-counter in the response"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def reload(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


# ---------------------------------------------------------------- the page

def test_dashboard_lists_the_partners_techniciens_only(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.get("/gestion/")
    assert resp.status_code == 200
    html = body(resp)
    assert f'id="technicien-{w.technicien.id}"' in html
    assert w.technicien.email in html
    assert w.other_technicien.email not in html
    assert w.other_gestionnaire.email not in html
    assert w.gestionnaire2.email in html  # the gestionnaires, read only
    assert w.caisse.name in html and w.other_caisse.name not in html
    assert re.search(r'<p id="quota-counter"[^>]*aria-live="polite"', html)
    assert counter(html).startswith("Quota de la structure (12 membres) : 1 / 15 techniciens")
    # The row says who created it / who it is attached to.
    assert f"{w.gestionnaire.prenom} {w.gestionnaire.nom}" in html


# ---------------------------------------------------------------- creation

def test_creation_fills_the_quota_then_the_16th_is_refused(client, make, login, identity, outbox):
    caisse = make.caisse()
    p = make.partenaire(caisse, members=12)
    g = make.gestionnaire(p)
    login(g)
    for n in range(1, 16):
        resp = client.post("/gestion/techniciens", data=identity(p, n))
        assert resp.status_code == 303, body(resp)[:2000]
        assert resp.headers["Location"].endswith("/gestion/")
    assert seats_used(p.id, Profile.TECHNICIEN) == 15
    assert counter(body(client.get("/gestion/"))).startswith("Quota de la structure (12 membres) : 15 / 15 techniciens")

    typed = identity(p, 16, prenom="Dominique", nom="Seizième", fonction="Médiatrice")
    resp = client.post("/gestion/techniciens", data=typed)
    assert resp.status_code == 422
    html = body(resp)
    assert "Quota atteint : 15 / 15 techniciens" in html
    assert 'id="form-error"' in html  # next to the form, at its top
    for key in ("prenom", "nom", "fonction", "telephone", "email"):
        assert f'value="{typed[key]}"' in html, key
    assert re.search(r'<input checked id="civilite-0"', html)  # Madame still chosen
    assert seats_used(p.id, Profile.TECHNICIEN) == 15
    assert db.session.scalar(select(Account).where(Account.email == typed["email"])) is None
    assert len([m for m in outbox() if m.template == "activation"]) == 15


def test_creation_with_htmx_answers_the_form_and_updates_table_and_counter(client, make, login, identity, outbox):
    w = make.world()
    login(w.gestionnaire)
    data = identity(w.partenaire, 7)
    resp = client.post("/gestion/techniciens", data=data, headers=HTMX)
    assert resp.status_code == 200
    html = body(resp)
    assert "<html" not in html
    created = db.session.scalar(select(Account).where(Account.email == data["email"]))
    form, added = html.split("<template>", 1)
    assert 'hx-target="#technicien-form" hx-swap="innerHTML"' in form
    assert re.search(r'<input [^>]*id="email" [^>]*value=""', form)  # a fresh form for the next one
    assert "Le compte de CamilleH EssaiH est créé" in form
    # The new row, appended out of band (in a <template>: a bare <tr> would not survive the parser).
    assert re.search(rf'<tbody hx-swap-oob="beforeend:#techniciens-rows">\s*<tr id="technicien-{created.id}">', added)
    assert data["email"] in added
    assert re.search(r'<p id="quota-counter"[^>]*hx-swap-oob="innerHTML"', html)
    assert "2 / 15 techniciens" in counter(html)
    assert created.status == AccountStatus.PENDING
    assert created.manager_id == w.gestionnaire.id and created.created_by_id == w.gestionnaire.id
    assert [m.subject for m in outbox(data["email"])] == ["Votre compte Espace Partenaires"]


def test_creation_refused_with_htmx_is_a_422_form_fragment(client, make, login, identity):
    w = make.world()
    login(w.gestionnaire)
    data = identity(w.partenaire, 3, email="camille.essai@gmail.com")
    resp = client.post("/gestion/techniciens", data=data, headers=HTMX)
    assert resp.status_code == 422
    html = body(resp)
    assert html.lstrip().startswith("<form ") and "<html" not in html
    assert 'value="camille.essai@gmail.com"' in html
    assert "Les adresses de messagerie personnelle (gmail.com) sont refusées" in html


@pytest.mark.parametrize("email", ["prenom.nom@gmail.com", "prenom.nom@orange.fr", "prenom.nom@sfr.fr"])
def test_webmail_is_refused_next_to_the_email_field(client, make, login, identity, email):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/techniciens", data=identity(w.partenaire, 1, email=email))
    assert resp.status_code == 422
    html = body(resp)
    assert re.search(r'aria-describedby="email-error"[^>]*aria-invalid="true"', html)
    error = re.search(r'<p class="fr-message[^"]*" id="email-error">(.*?)</p>', html).group(1)
    assert "messagerie personnelle" in error
    assert f'value="{email}"' in html
    assert seats_used(w.partenaire.id, Profile.TECHNICIEN) == 1


def test_the_partners_registered_domain_is_enforced(client, make, login, identity):
    w = make.world()
    login(w.gestionnaire)
    other_domain = w.other_partenaire.domain_list[0]
    resp = client.post("/gestion/techniciens", data=identity(w.partenaire, 1, email=f"a.b@{other_domain}"))
    assert resp.status_code == 422
    error = re.search(r'<p class="fr-message[^"]*" id="email-error">(.*?)</p>', body(resp)).group(1)
    assert error.startswith("L'adresse doit utiliser un domaine enregistré par la structure")
    assert "@" + w.partenaire.domain_list[0] in error
    ok = client.post("/gestion/techniciens", data=identity(w.partenaire, 1))
    assert ok.status_code == 303


def test_missing_fields_are_named_in_french(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post("/gestion/techniciens", data={"nom": "Essai", "email": ""})
    assert resp.status_code == 422
    html = body(resp)
    assert 'id="prenom-error"' in html and 'id="email-error"' in html
    assert "Ce champ est obligatoire." in html
    assert 'value="Essai"' in html


# ---------------------------------------------------------------- inactivate / reactivate

def test_inactivate_then_reactivate_through_htmx_swaps_the_row_and_the_counter(client, make, login):
    w = make.world()
    make.technicien(w.partenaire)  # 2 / 15
    login(w.gestionnaire)
    t = w.technicien

    resp = client.post(f"/gestion/techniciens/{t.id}/inactiver", data={"reason": "Départ en retraite"}, headers=HTMX)
    assert resp.status_code == 200
    assert "HX-Request" in resp.headers["Vary"]
    html = body(resp)
    assert "<html" not in html
    assert html.lstrip().startswith(f'<tr id="technicien-{t.id}">')
    assert "Inactif" in html and "Départ en retraite" in html
    assert f"/gestion/techniciens/{t.id}/reactiver" in html
    assert re.search(r'<p id="quota-counter"[^>]*hx-swap-oob="innerHTML"', html)
    assert "1 / 15 techniciens" in counter(html)
    assert 'id="flash"' in html and "est inactivé" in html
    t = reload(t)
    assert t.status == AccountStatus.INACTIVE and t.inactivation_reason == "Départ en retraite"

    resp = client.post(f"/gestion/techniciens/{t.id}/reactiver", headers=HTMX)
    assert resp.status_code == 200
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="technicien-{t.id}">')
    assert "Actif" in html and f"/gestion/techniciens/{t.id}/inactiver" in html
    assert "2 / 15 techniciens" in counter(html)
    assert reload(t).status == AccountStatus.ACTIVE
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == t.id,
                                                                 AuditEvent.target_type == "account")).all()
    assert actions == ["account_inactivated", "account_reactivated"]


def test_without_javascript_the_same_forms_redirect_to_the_dashboard(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    t = w.technicien
    resp = client.post(f"/gestion/techniciens/{t.id}/inactiver", data={"reason": ""})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/gestion/")
    page = body(client.get("/gestion/"))
    assert f"Le compte de {t.prenom} {t.nom} est inactivé" in page
    assert "0 / 15 techniciens" in counter(page)
    resp = client.post(f"/gestion/techniciens/{t.id}/reactiver")
    assert resp.status_code == 303
    assert reload(t).status == AccountStatus.ACTIVE


def test_inactivating_an_inactive_account_is_refused_in_the_row(client, make, login):
    w = make.world()
    t = make.technicien(w.partenaire, status=AccountStatus.INACTIVE)
    login(w.gestionnaire)
    resp = client.post(f"/gestion/techniciens/{t.id}/inactiver", data={"reason": "x"}, headers=HTMX)
    assert resp.status_code == 422
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="technicien-{t.id}">')
    assert "Ce compte est déjà inactif." in html


def _full_small_partner(make):
    """A 5-member partner (quota 5 techniciens): 5 seats taken and one inactive."""
    caisse = make.caisse()
    p = make.partenaire(caisse, members=5)
    g = make.gestionnaire(p)
    for _ in range(4):
        make.technicien(p)
    make.technicien(p, status=AccountStatus.PENDING)
    inactive = make.technicien(p, status=AccountStatus.INACTIVE, inactivation_reason="Congé long")
    return p, g, inactive


def test_reactivation_over_quota_is_refused_with_htmx(client, make, login):
    p, g, inactive = _full_small_partner(make)
    login(g)
    resp = client.post(f"/gestion/techniciens/{inactive.id}/reactiver", headers=HTMX)
    assert resp.status_code == 422
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="technicien-{inactive.id}">')
    assert "Quota atteint : 5 / 5 techniciens" in html
    assert 'role="alert"' in html
    assert "5 / 5 techniciens" in counter(html)
    assert reload(inactive).status == AccountStatus.INACTIVE
    assert seats_used(p.id, Profile.TECHNICIEN) == 5


def test_reactivation_over_quota_is_refused_without_javascript(client, make, login):
    p, g, inactive = _full_small_partner(make)
    login(g)
    resp = client.post(f"/gestion/techniciens/{inactive.id}/reactiver")
    assert resp.status_code == 422
    html = body(resp)
    assert "<html" in html
    row = html.split(f'<tr id="technicien-{inactive.id}">')[1].split("</tr>")[0]
    assert "Quota atteint : 5 / 5 techniciens" in row
    assert reload(inactive).status == AccountStatus.INACTIVE


# ---------------------------------------------------------------- misuse

def test_misuse_report_inactivates_alerts_the_caisse_and_is_audited(app, client, make, login, outbox):
    w = make.world()
    other = app.test_client()
    login(w.technicien, c=other)
    assert other.get("/").status_code == 200
    login(w.gestionnaire)
    t = w.technicien

    resp = client.post(f"/gestion/techniciens/{t.id}/signaler",
                       data={"reason": "Connexions la nuit depuis l'étranger", "confirmed": "1"}, headers=HTMX)
    assert resp.status_code == 200
    html = body(resp)
    assert html.lstrip().startswith(f'<tr id="technicien-{t.id}">') and "Inactif" in html
    assert "0 / 15 techniciens" in counter(html)
    t = reload(t)
    assert t.status == AccountStatus.INACTIVE
    assert t.inactivation_reason == "Usage frauduleux signalé : Connexions la nuit depuis l'étranger"
    mails = outbox(w.caisse.referent_email)
    assert [m.template for m in mails] == ["misuse_alert"]
    assert t.login in mails[0].body_text and "Connexions la nuit" in mails[0].body_text
    assert outbox(w.other_caisse.referent_email) == []
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "misuse_reported"))
    assert event.actor_id == w.gestionnaire.id and event.target_id == t.id
    assert event.partenaire_id == w.partenaire.id
    # The technicien's open session ends at its next request.
    assert other.get("/").status_code == 302


def test_misuse_report_needs_a_reason(client, make, login, outbox):
    w = make.world()
    login(w.gestionnaire)
    t = w.technicien
    resp = client.post(f"/gestion/techniciens/{t.id}/signaler", data={"reason": "  "}, headers=HTMX)
    assert resp.status_code == 422
    html = body(resp)
    assert f'id="misuse-reason-{t.id}-error"' in html
    assert "Décrivez en quelques mots l'usage frauduleux constaté." in html
    assert "<details open>" in html
    assert reload(t).status == AccountStatus.ACTIVE
    assert outbox(w.caisse.referent_email) == []

    no_js = client.post(f"/gestion/techniciens/{t.id}/signaler", data={"reason": ""})
    assert no_js.status_code == 422 and "<html" in body(no_js)
    assert f'id="misuse-reason-{t.id}-error"' in body(no_js)


# ---------------------------------------------------------------- activation link

def test_resend_the_activation_link_of_a_pending_account(client, make, login, identity, outbox):
    w = make.world()
    pending = accounts.create_technicien(w.gestionnaire, identity(w.partenaire, 9))
    commit()
    login(w.gestionnaire)
    page = body(client.get("/gestion/"))
    row = page.split(f'<tr id="technicien-{pending.id}">')[1].split("</tr>")[0]
    assert "Renvoyer le lien d'activation" in row
    resp = client.post(f"/gestion/techniciens/{pending.id}/lien-activation", headers=HTMX)
    assert resp.status_code == 200
    assert [m.template for m in outbox(pending.email)] == ["activation", "activation"]

    resp = client.post(f"/gestion/techniciens/{w.technicien.id}/lien-activation", headers=HTMX)
    assert resp.status_code == 422
    assert "aucun lien d'activation à renvoyer" in body(resp)


# ---------------------------------------------------------------- permissions

ACTIONS = ["inactiver", "reactiver", "signaler", "lien-activation"]


@pytest.mark.parametrize("action", ACTIONS)
def test_another_partners_technicien_is_a_404_on_every_action(client, make, login, action, outbox):
    w = make.world()
    target = w.other_technicien
    login(w.gestionnaire)
    for headers in ({}, HTMX):
        resp = client.post(f"/gestion/techniciens/{target.id}/{action}", data={"reason": "Essai"}, headers=headers)
        assert resp.status_code == 404
    assert reload(target).status == AccountStatus.ACTIVE
    assert outbox() == []


@pytest.mark.parametrize("action", ACTIONS)
def test_a_gestionnaire_account_is_not_managed_here(client, make, login, action):
    w = make.world()
    login(w.gestionnaire)
    resp = client.post(f"/gestion/techniciens/{w.gestionnaire2.id}/{action}", data={"reason": "Essai"})
    assert resp.status_code == 404
    assert reload(w.gestionnaire2).status == AccountStatus.ACTIVE


def test_unknown_account_is_a_404(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    assert client.post("/gestion/techniciens/999999/inactiver").status_code == 404


def test_no_creation_once_every_convention_has_ended(client, make, login, identity):
    caisse = make.caisse()
    p = make.partenaire()
    make.convention(p, caisse, signed_on=make.today() - timedelta(days=400), ends_on=make.today() - timedelta(days=1))
    g = make.gestionnaire(p)
    login(g)
    html = body(client.get("/gestion/"))
    assert "Votre structure n'a plus de convention en cours avec une caisse" in html
    resp = client.post("/gestion/techniciens", data=identity(p, 1))
    assert resp.status_code == 422
    assert "La structure n'a plus de convention en cours : aucun compte ne peut être créé." in body(resp)
    assert seats_used(p.id, Profile.TECHNICIEN) == 0


def test_misuse_report_without_javascript_asks_for_confirmation_first(client, make, login, outbox):
    """Without the JS dialog's flag, one click does not inactivate: a page asks,
    re-posting what was typed; confirming there acts."""
    w = make.world()
    login(w.gestionnaire)
    t = w.technicien
    url = f"/gestion/techniciens/{t.id}/signaler"
    resp = client.post(url, data={"reason": "Connexions depuis un poste inconnu"})
    page = body(resp)
    assert resp.status_code == 200 and "<html" in page
    assert f'action="{url}"' in page and 'name="confirmed" value="1"' in page
    assert 'name="reason" value="Connexions depuis un poste inconnu"' in page
    assert 'href="/gestion/"' in page and "Annuler" in page
    assert reload(t).status == AccountStatus.ACTIVE and outbox(w.caisse.referent_email) == []

    # An htmx request without the flag did not come from the dialog: nothing is done.
    resp = client.post(url, data={"reason": "Connexions depuis un poste inconnu"}, headers=HTMX)
    assert resp.status_code == 422 and reload(t).status == AccountStatus.ACTIVE

    resp = client.post(url, data={"reason": "Connexions depuis un poste inconnu", "confirmed": "1"})
    assert resp.status_code == 303
    assert reload(t).status == AccountStatus.INACTIVE
    assert [m.template for m in outbox(w.caisse.referent_email)] == ["misuse_alert"]
