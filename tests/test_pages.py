"""The footer's pages (accessibility statement, legal notice, personal data,
site map): public, linked from every page, the retention periods as configured."""
import pytest

PAGES = {"/accessibilite": "Déclaration d'accessibilité", "/mentions-legales": "Mentions légales",
         "/donnees-personnelles": "Données personnelles", "/plan-du-site": "Plan du site"}


@pytest.mark.parametrize("path,title", PAGES.items())
def test_each_page_is_public_and_linked_from_the_footer(client, path, title):
    resp = client.get(path)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and f"<h1>{title}</h1>" in html.replace("&#39;", "'")
    footer = client.get("/connexion").get_data(as_text=True).split('<footer', 1)[1]
    assert f'href="{path}"' in footer


def test_the_accessibility_statement_follows_the_rgaa_form(client):
    html = client.get("/accessibilite").get_data(as_text=True)
    for part in ("État de conformité", "RGAA", "Contenus non accessibles", "Établissement de cette déclaration",
                 "Retour d'information et contact", "Voies de recours", "Défenseur des droits"):
        assert part in html.replace("&#39;", "'"), part


def test_the_personal_data_notice_gives_the_retention_as_configured(app, client):
    days = app.config["RETENTION_DAYS"]
    html = client.get("/donnees-personnelles").get_data(as_text=True)
    assert f"{days} jours" in html
    for part in ("finalités", "Base légale", "destinataires", "Vos droits", "CNIL", "NIR"):
        assert part in html, part


def test_the_site_map_lists_the_profile_s_own_pages(client, make, login):
    login(make.gestionnaire(make.partenaire(make.caisse())))
    html = client.get("/plan-du-site").get_data(as_text=True)
    assert 'href="/gestion/"' in html and "Habilitations" in html
