"""The bell, the notification centre, « Mon compte » and the « À traiter »
home of each profile, through HTTP (SPEC §6)."""
from datetime import timedelta

from ep_web.domain import demandes as dm
from ep_web.domain import notifications
from ep_web.extensions import db
from ep_web.models import Notification, NotificationPreference
from ep_web.transaction import commit


def _complement(w, new_demande):
    demande = new_demande(w.technicien, w.caisse)
    dm.request_complement(w.agent, demande, "Il manque l'avis d'imposition.")
    commit()
    return demande


def test_bell_in_header_and_204_while_unchanged(nw, new_demande, login):
    client = login(nw.technicien)
    html = client.get("/demandes").get_data(as_text=True)
    assert 'data-testid="bell"' in html and 'hx-get="/notifications/compteur?vu=0"' in html
    assert client.get("/notifications/compteur?vu=0").status_code == 204
    _complement(nw, new_demande)
    resp = client.get("/notifications/compteur?vu=0", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    assert 'data-testid="bell-count">1<' in resp.get_data(as_text=True)
    assert 'vu=1' in resp.get_data(as_text=True)
    assert client.get("/notifications/compteur?vu=1").status_code == 204
    assert client.get("/notifications/compteur?vu=abc").status_code == 200  # anything else: the bell


def test_centre_lists_opens_and_marks_all_read(nw, new_demande, login):
    w = nw
    demande = _complement(w, new_demande)
    client = login(w.technicien)
    page = client.get("/notifications").get_data(as_text=True)
    assert f"Demande {demande.reference} : un complément vous est demandé" in page and "Non lue" in page
    note = db.session.scalars(db.select(Notification).where(Notification.account_id == w.technicien.id)).one()
    resp = client.get(f"/notifications/{note.id}")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/demandes/{demande.id}"
    assert notifications.unread_count(w.technicien) == 0
    dm.close(w.agent, demande, "traitee")
    commit()
    assert client.get("/notifications?non_lues=1").get_data(as_text=True).count("Non lue") == 1
    resp = client.post("/notifications/tout-lu")
    assert resp.status_code == 303 and notifications.unread_count(w.technicien) == 0
    # Someone else's notification does not exist for this user.
    assert login(w.colleague, c=client.application.test_client()).get(
        f"/notifications/{note.id}").status_code == 404


def test_opening_the_demande_reads_its_notifications(nw, new_demande, login):
    demande = _complement(nw, new_demande)
    client = login(nw.technicien)
    assert notifications.unread_count(nw.technicien) == 1
    assert client.get(f"/demandes/{demande.id}").status_code == 200
    assert notifications.unread_count(nw.technicien) == 0


def test_the_header_bell_counts_what_the_page_itself_read(nw, new_demande, login):
    """The bell's count is read with the user (ep_web.domain.sessions.load); a
    page that marks notifications read shows the count after it did."""
    demande = _complement(nw, new_demande)
    client = login(nw.technicien)
    assert 'data-testid="bell-count">1<' in client.get("/demandes").get_data(as_text=True)
    html = client.get(f"/demandes/{demande.id}").get_data(as_text=True)  # reads its notification
    assert 'data-testid="bell"' in html and 'data-testid="bell-count"' not in html
    assert 'hx-get="/notifications/compteur?vu=0"' in html
    assert 'data-testid="bell-count"' not in client.get("/demandes").get_data(as_text=True)


def test_preferences_page_saves_and_refuses_nonsense(nw, login):
    client = login(nw.technicien)
    page = client.get("/compte/notifications").get_data(as_text=True)
    assert "Complément demandé par la caisse" in page and "Dans un résumé quotidien" in page
    data = {f"pref_{k.value}": "immediate" for k in notifications.preferences(nw.technicien)}
    resp = client.post("/compte/notifications", data={**data, "pref_complement": "n'importe quoi"})
    assert resp.status_code == 422 and "Choisissez quand recevoir ces e-mails." in resp.get_data(as_text=True)
    resp = client.post("/compte/notifications", data={**data, "pref_complement": "digest"})
    assert resp.status_code == 303
    rows = db.session.scalars(db.select(NotificationPreference)).all()
    assert [(r.kind.value, r.mode.value) for r in rows] == [("complement", "digest")]
    assert 'checked id="pref_complement-1"' in client.get("/compte/notifications").get_data(as_text=True)


def test_follow_and_unfollow_buttons(nw, new_demande, login):
    demande = new_demande(nw.technicien, nw.caisse)
    client = login(nw.colleague)
    assert "Suivre cette demande" in client.get(f"/demandes/{demande.id}").get_data(as_text=True)
    assert client.post(f"/demandes/{demande.id}/suivre").status_code == 303
    assert notifications.is_following(nw.colleague, demande)
    assert "Ne plus suivre" in client.get(f"/demandes/{demande.id}").get_data(as_text=True)
    assert client.post(f"/demandes/{demande.id}/ne-plus-suivre").status_code == 303
    assert not notifications.is_following(nw.colleague, demande)


def test_technicien_home_counts_complements_mine_first(nw, new_demande, login):
    w = nw
    demande = _complement(w, new_demande)
    other = new_demande(w.colleague, w.caisse, nom="Autrenom")
    dm.request_complement(w.agent, other, "Il manque un justificatif.")
    commit()
    html = login(w.technicien).get("/").get_data(as_text=True)
    mine = html.index('data-testid="count-complements_mine">1<')
    structure = html.index('data-testid="count-complements_structure">2<')
    assert mine < structure
    assert f'href="/demandes?status=attente_complement&amp;author_id={w.technicien.id}"' in html
    assert demande.nom not in html  # counters, not the people


def test_gestionnaire_home_reminds_soon_idle_techniciens(nw, login, clock, outbox, app):
    w = nw
    days = app.config["IDLE_INACTIVATION_DAYS"]
    w.bystander.last_login_at = clock.now() - timedelta(days=days - 3)
    w.bystander.activated_at = None
    db.session.commit()
    client = login(w.gestionnaire)
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="count-idle">1<' in html and w.bystander.full_name in html
    resp = client.post(f"/gestion/techniciens/{w.bystander.id}/rappel")
    assert resp.status_code == 303
    assert [m.template for m in outbox(w.bystander.email)] == ["idle_reminder"]
    # Another structure's technicien is not found.
    assert client.post(f"/gestion/techniciens/{w.other_technicien.id}/rappel").status_code == 404


def test_mailbox_form_keeps_what_was_typed_on_error(nw, login):
    client = login(nw.gestionnaire)
    resp = client.post("/gestion/boite-structure", data={"address": "accueil@gmail.com"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "messagerie personnelle" in body and 'value="accueil@gmail.com"' in body
    address = f"accueil@{nw.partenaire.domain_list[0]}"
    assert client.post("/gestion/boite-structure", data={"address": address}).status_code == 303
    assert address in client.get("/").get_data(as_text=True)


def test_every_profile_home_answers(nw, login, app):
    expected = {"agent": "count-non-prises", "admin": "count-requests", "national": "count-orphan_caisses",
                "gestionnaire": "count-review", "technicien": "count-replies"}
    for who, marker in expected.items():
        client = app.test_client()
        html = login(getattr(nw, who), c=client).get("/").get_data(as_text=True)
        assert "À traiter" in html and marker in html, who


def test_agent_tab_filters_the_queue(nw, new_demande, login):
    w = nw
    taken = new_demande(w.technicien, w.caisse)
    waiting = new_demande(w.technicien, w.caisse, nom="Autrenom")
    dm.take(w.agent, taken)
    dm.request_complement(w.agent, waiting, "Il manque un justificatif.")
    commit()
    client = login(w.agent)
    html = client.get("/traitement?onglet=attente-partenaire").get_data(as_text=True)
    assert waiting.reference in html and taken.reference not in html
    html = client.get("/traitement?onglet=inconnu").get_data(as_text=True)  # ignored
    assert waiting.reference in html and taken.reference in html


def test_request_deadlines_overdue_first_on_both_sides(nw, login, clock, app):
    from ep_web.models import GestionnaireRequest, RequestKind

    w = nw
    d = clock.now().date()
    late = GestionnaireRequest(partenaire_id=w.partenaire.id, caisse_id=w.caisse.id, kind=RequestKind.MODIFICATION,
                               payload={}, requested_by_id=w.gestionnaire.id, deadline=d - timedelta(days=2))
    soon = GestionnaireRequest(partenaire_id=w.partenaire.id, caisse_id=w.caisse.id, kind=RequestKind.CREATION,
                               payload={}, requested_by_id=w.gestionnaire.id, deadline=d + timedelta(days=3))
    db.session.add_all([soon, late])
    db.session.commit()
    html = login(w.admin).get("/").get_data(as_text=True)
    assert 'data-testid="count-requests">2<' in html and "Dont 1 en retard." in html
    table = html[html.index('data-testid="requests-deadlines"'):]
    assert table.index("Modification d&#39;un gestionnaire") < table.index("Nouveau gestionnaire")
    assert "En retard" in table and f'href="/caisse/demandes/{late.id}"' in table
    gestion = login(w.gestionnaire, c=app.test_client()).get("/").get_data(as_text=True)
    assert 'data-testid="count-requests">2<' in gestion and w.caisse.name in gestion
