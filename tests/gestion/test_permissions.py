"""Every route of the gestionnaire area × every profile (SPEC §8: a technicien
cannot manage accounts; caisse and national users have nothing to do here)."""
import pytest

from ep_web.extensions import db
from ep_web.models import AccountStatus
from tests.gestion.conftest import HTMX

GET_ROUTES = ["/gestion/", "/gestion/demandes", "/gestion/demandes/modification", "/gestion/habilitations",
              "/gestion/habilitations.csv", "/gestion/habilitations.xlsx"]
POST_ROUTES = ["/gestion/techniciens", "/gestion/techniciens/{t}/inactiver", "/gestion/techniciens/{t}/reactiver",
               "/gestion/techniciens/{t}/signaler", "/gestion/techniciens/{t}/lien-activation",
               "/gestion/demandes/nouveau-gestionnaire", "/gestion/demandes/modification",
               "/gestion/demandes/inactivation", "/gestion/habilitations/revue/1"]


@pytest.mark.parametrize("who", ["technicien", "agent", "admin", "national"])
def test_only_gestionnaires_reach_the_area(client, make, login, who):
    w = make.world()
    login(getattr(w, who))
    for url in GET_ROUTES:
        assert client.get(url).status_code == 403, url
    for url in POST_ROUTES:
        resp = client.post(url.format(t=w.technicien.id), data={"reason": "Essai", "nom": "X"})
        assert resp.status_code == 403, url
    db.session.expire_all()
    assert w.technicien.status == AccountStatus.ACTIVE


def test_anonymous_is_sent_to_the_login_page(client, make):
    w = make.world()
    for url in GET_ROUTES:
        resp = client.get(url)
        assert resp.status_code == 302 and "/connexion" in resp.headers["Location"], url
    resp = client.post(f"/gestion/techniciens/{w.technicien.id}/inactiver", headers=HTMX)
    assert resp.status_code == 204 and "/connexion" in resp.headers["HX-Redirect"]


def test_the_gestionnaire_reaches_every_page(client, make, login):
    w = make.world()
    login(w.gestionnaire)
    for url in GET_ROUTES:
        assert client.get(url).status_code == 200, url
