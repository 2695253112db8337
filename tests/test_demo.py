"""Every demo login printed by the Quick start works."""
from ep_web.demo import DEMO_PASSWORD, seed


def test_demo_seed_is_idempotent_and_every_login_works(app):
    logins = seed()
    assert seed() == logins  # a second run changes nothing
    assert {p for p, _, _ in logins} == {"admin_national", "admin_caisse", "agent", "gestionnaire", "technicien"}
    for profile, login, _ in logins:
        client = app.test_client()
        resp = client.post("/connexion", data={"login": login, "password": DEMO_PASSWORD})
        assert resp.status_code == 302 and "/connexion" not in resp.headers["Location"], profile
        # First login: the CGU gate, then the profile's home page.
        gate = client.get("/", follow_redirects=False)
        assert "/cgu" in gate.headers["Location"]
        assert client.post("/cgu", data={"version": "1", "accept": "y"}).status_code == 303
        home = client.get("/", follow_redirects=True)
        assert home.status_code == 200, profile
        assert "Se déconnecter" in home.get_data(as_text=True)
