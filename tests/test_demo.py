"""Every demo login printed by the Quick start works, with the printed command
giving the second factor's code where the profile has one."""
from ep_web.demo import DEMO_PASSWORD, seed
from ep_web.domain.second_factor import MANDATORY_PROFILES
from ep_web.models import Profile


def test_demo_seed_is_idempotent_and_every_login_works(app):
    logins = seed()
    assert seed() == logins  # a second run changes nothing
    assert {p for p, _, _ in logins} == {"admin_national", "admin_caisse", "agent", "gestionnaire", "technicien"}
    runner = app.test_cli_runner()
    for profile, login, _ in logins:
        client = app.test_client()
        resp = client.post("/connexion", data={"login": login, "password": DEMO_PASSWORD})
        assert resp.status_code == 302, profile
        printed = runner.invoke(args=["ep", "totp", login])
        if Profile(profile) in MANDATORY_PROFILES:
            assert resp.headers["Location"].endswith("/connexion/code"), profile
            assert printed.exit_code == 0 and printed.output.strip().isdigit(), printed.output
            resp = client.post("/connexion/code", data={"code": printed.output.strip()})
        else:
            assert printed.exit_code != 0 and "démonstration" in printed.output
        assert resp.status_code in (302, 303) and "/connexion" not in resp.headers["Location"], profile
        # First login: the CGU gate, then the profile's home page.
        gate = client.get("/", follow_redirects=False)
        assert "/cgu" in gate.headers["Location"]
        assert client.post("/cgu", data={"version": "1", "accept": "y"}).status_code == 303
        home = client.get("/", follow_redirects=True)
        assert home.status_code == 200, profile
        assert "Se déconnecter" in home.get_data(as_text=True)
