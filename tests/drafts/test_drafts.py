"""Drafts of demandes (SPEC §8: nothing the user typed is lost; SPEC §4: never a NIR stored)."""
import re

from ep_web.domain import drafts
from ep_web.extensions import db
from ep_web.models import Demande, DemandeDraft
from ep_web.transaction import commit
from tests.conftest import PASSWORD, totp_code

NIR = "1 85 05 78 006 084 36"


def _form(client, service="contact"):
    resp = client.get(f"/demandes/nouvelle/{service}")
    html = resp.get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    return found.group(1) if found else ""  # tests may run without CSRF


def _fields(w, **over):
    data = {"caisse_id": w.caisse.id, "civilite": "Mme", "nom": "Brouillonne", "prenom": "Alix",
            "date_naissance": "12/03/1961", "departement": w.caisse.departements.split(",")[0],
            "subject": "Carte Vitale", "message": "La personne attend sa carte depuis trois mois."}
    data.update(over)
    return data


def test_autosave_keeps_what_is_typed_but_never_a_nir_and_resumes_it(app, make, login, client):
    w = make.world()
    login(w.technicien)
    token = _form(client)
    resp = client.post("/demandes/brouillons/contact", headers={"HX-Request": "true"},
                       data={"csrf_token": token, **_fields(w, message=f"Son numéro est le {NIR}.")})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Brouillon enregistré" in html and "Message" in html and "NIR" in html
    draft = db.session.scalars(db.select(DemandeDraft)).one()
    assert draft.data["nom"] == "Brouillonne" and "message" not in draft.data
    assert f'value="{draft.id}"' in html  # the form learns its draft (out of band)
    # a second save updates the same draft
    client.post("/demandes/brouillons/contact", headers={"HX-Request": "true"},
                data={"csrf_token": token, "draft_id": draft.id, **_fields(w, message="Sans numéro.")})
    db.session.expire_all()
    assert db.session.scalars(db.select(DemandeDraft)).one().data["message"] == "Sans numéro."
    listing = client.get("/demandes/brouillons").get_data(as_text=True)
    assert "Alix Brouillonne" in listing
    page = client.get(f"/demandes/brouillons/{draft.id}", follow_redirects=True).get_data(as_text=True)
    assert 'value="Brouillonne"' in page and "Sans numéro." in page and 'value="12/03/1961"' in page
    # sending the demande consumes its draft
    resp = client.post("/demandes/nouvelle/contact",
                       data={"csrf_token": token, "draft_id": draft.id, "duplicate_confirmed": "y",
                             **_fields(w, message="Sans numéro.")})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    assert db.session.scalar(db.select(db.func.count(DemandeDraft.id))) == 0
    assert db.session.scalar(db.select(db.func.count(Demande.id))) == 1


def test_a_draft_is_its_author_s_only(app, make, login, client):
    w = make.world()
    colleague = make.technicien(w.partenaire)
    draft, _ = drafts.save(colleague, "contact", {"nom": "Privée"})
    commit()
    login(w.technicien)
    assert client.get(f"/demandes/brouillons/{draft.id}").status_code == 404
    assert client.get(f"/demandes/nouvelle/contact?brouillon={draft.id}").status_code == 404
    assert "Privée" not in client.get("/demandes/brouillons").get_data(as_text=True)


def test_drafts_are_purged_thirty_days_after_their_last_change(app, make, clock):
    w = make.world()
    drafts.save(w.technicien, "contact", {"nom": "Ancienne"})
    commit()
    clock.advance(days=29)
    assert drafts.purge() == 0
    clock.advance(days=2)
    assert drafts.purge() == 1


def test_a_demande_posted_after_the_idle_timeout_is_kept_and_reopened_after_login(app, make, client, clock):
    """SPEC §8: the session idles out while the technicien writes; the POST is
    not dropped: it becomes a draft, and the login leads back to it."""
    w = make.world()
    resp = client.post("/connexion", data={"login": w.technicien.login, "password": PASSWORD})
    if resp.headers["Location"].endswith("/connexion/code"):
        client.post("/connexion/code", data={"code": totp_code(w.technicien)})
    token = _form(client)
    clock.advance(minutes=app.config["SESSION_IDLE_MINUTES"] + 5)
    resp = client.post("/demandes/nouvelle/contact", data={"csrf_token": token, **_fields(w)})
    assert resp.status_code in (302, 303) and "/connexion" in resp.headers["Location"]
    assert "brouillons" in resp.headers["Location"]
    draft = db.session.scalars(db.select(DemandeDraft)).one()
    assert draft.data["message"] == "La personne attend sa carte depuis trois mois."
    login_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "gardée en brouillon" in login_page.replace("&#39;", "'")
    resp = client.post(resp.headers["Location"], data={"login": w.technicien.login, "password": PASSWORD})
    if resp.headers["Location"].endswith("/connexion/code"):
        resp = client.post("/connexion/code", data={"code": totp_code(w.technicien)})
    page = client.get(resp.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert 'value="Brouillonne"' in page and "La personne attend sa carte depuis trois mois." in page
