"""Wording a reader notices (SPEC §8: simple, in correct French)."""


def test_a_first_visit_of_the_home_page_is_no_error(client):
    resp = client.get("/", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Connectez-vous pour accéder à cette page." not in html
    resp = client.get("/demandes", follow_redirects=True)
    assert "Connectez-vous pour accéder à cette page." in resp.get_data(as_text=True)


def test_names_starting_with_a_vowel_are_elided_and_the_siret_is_grouped(app, make, login, client):
    caisse = make.caisse()
    p = make.partenaire(caisse, name="Accueil de jour Fictif", siret="73282932000074")
    login(make.gestionnaire(p))
    html = client.get("/gestion/").get_data(as_text=True)
    assert "Les comptes d&#39;Accueil de jour Fictif" in html and "de Accueil" not in html
    other = login(make.admin_caisse(caisse), c=app.test_client())
    resp = other.get(f"/caisse/partenaires/{p.id}")
    assert resp.status_code == 200, resp.status_code
    assert "732\u00a0829\u00a0320\u00a000074" in resp.get_data(as_text=True)


