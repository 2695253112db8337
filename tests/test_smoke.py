

def test_login_page_is_french_and_secure(client):
    resp = client.get("/connexion")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "Connexion à l'Espace Partenaires" in body
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_technicien_logs_in_and_sees_caisses(client, make, login):
    w = make.world()
    login(w.technicien)
    body = client.get("/").get_data(as_text=True)
    assert w.caisse.name in body
    assert w.other_caisse.name not in body
