"""Maintenance windows (SPEC §5): banner before, 503 page with each caisse's
"autre canal" during (admin_national excepted), everything back after — with
the injected clock, never a sleep."""
from datetime import timedelta

import pytest

from ep_web.clock import to_paris
from ep_web.domain import maintenance
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import MaintenanceWindow
from ep_web.transaction import commit


def _local(dt):
    """The datetime-local value the national admin types (Paris time)."""
    return to_paris(dt).strftime("%Y-%m-%dT%H:%M")


def _shown(dt):
    return to_paris(dt).strftime("%d/%m/%Y à %H:%M")


@pytest.fixture
def world(make):
    w = make.world()
    w.caisse.autre_canal = "Téléphone 01 23 45 67 89\nAccueil rue des Essais"
    db.session.commit()
    return w


# ---------------------------------------------------------------- domain

def test_schedule_rules(world, clock):
    at = clock.now()
    with pytest.raises(NotAllowed):
        maintenance.schedule(world.admin, at + timedelta(days=1), at + timedelta(days=1, hours=2))
    with pytest.raises(DomainError) as exc:
        maintenance.schedule(world.national, at - timedelta(hours=1), at + timedelta(hours=2))
    assert exc.value.field == "starts_at"
    with pytest.raises(DomainError) as exc:
        maintenance.schedule(world.national, at + timedelta(hours=3), at + timedelta(hours=2))
    assert exc.value.field == "ends_at"
    with pytest.raises(DomainError) as exc:
        maintenance.schedule(world.national, at + timedelta(hours=1), at + timedelta(days=4))
    assert "3 jours" in exc.value.message
    w = maintenance.schedule(world.national, at + timedelta(days=1), at + timedelta(days=1, hours=3), "Mise à jour")
    with pytest.raises(DomainError) as exc:
        maintenance.schedule(world.national, at + timedelta(days=1, hours=2), at + timedelta(days=1, hours=5))
    assert "déjà programmée" in exc.value.message
    # Right after the first one ends: no overlap.
    maintenance.schedule(world.national, w.ends_at, w.ends_at + timedelta(hours=1))
    # Typed to the minute: the current minute is not "in the past".
    maintenance.schedule(world.national, at.replace(second=0) + timedelta(days=2), at + timedelta(days=2, hours=1))


def test_state_cancel_and_end(world, clock):
    at = clock.now()
    w = maintenance.schedule(world.national, at + timedelta(days=8), at + timedelta(days=8, hours=2))
    assert maintenance.state().upcoming == [] and not maintenance.state().active  # beyond the notice
    clock.advance(days=1, minutes=1)
    assert maintenance.state().upcoming == [w]
    clock.advance(days=7)
    st = maintenance.state()
    assert st.active and st.current == w and st.upcoming == []
    assert maintenance.retry_after_seconds(w) == int((w.ends_at - clock.now()).total_seconds())
    with pytest.raises(DomainError):
        maintenance.cancel(world.national, w)  # started: end it instead
    with pytest.raises(NotAllowed):
        maintenance.end_now(world.admin, w)
    maintenance.end_now(world.national, w)
    assert not maintenance.state().active
    assert maintenance.window_status(w) == "terminee"

    later = maintenance.schedule(world.national, clock.now() + timedelta(days=1),
                                 clock.now() + timedelta(days=1, hours=1))
    maintenance.cancel(world.national, later)
    assert maintenance.state().upcoming == []
    with pytest.raises(DomainError):
        maintenance.cancel(world.national, later)


# ---------------------------------------------------------------- the whole story through HTTP

@pytest.mark.committed
def test_banner_before_503_during_normal_after(app, world, make, clock, login):
    other_caisse = world.other_caisse
    at = clock.now()
    start, end = at + timedelta(days=2, hours=11), at + timedelta(days=2, hours=14)

    national = app.test_client()
    login(world.national, c=national)
    resp = national.post("/national/maintenance", data={"starts_at": _local(start), "ends_at": _local(end),
                                                        "message": "Mise à jour de sécurité."})
    assert resp.status_code == 303
    window = db.session.scalars(db.select(MaintenanceWindow)).one()
    assert window.starts_at == start and window.ends_at == end  # Paris local time typed, UTC stored

    # Before: every user sees the banner with the dates; pages work.
    tech = app.test_client()
    login(world.technicien, c=tech)
    page = tech.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="maintenance-banner"' in html
    assert f"du {_shown(start)} au {_shown(end)}" in html and "Mise à jour de sécurité." in html
    assert 'data-testid="maintenance-banner"' in app.test_client().get("/connexion").get_data(as_text=True)

    # During: 503 with Retry-After and each caisse's channel, for every page but the admins'.
    clock.advance(days=2, hours=12)
    anonymous = app.test_client()
    resp = anonymous.get("/")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == str(int((end - clock.now()).total_seconds()))  # 2 hours
    assert resp.headers["Retry-After"] == "7200"
    body = resp.get_data(as_text=True)
    assert "Le portail est en maintenance" in body and _shown(end) in body
    assert world.caisse.name in body and "Téléphone 01 23 45 67 89<br>Accueil rue des Essais" in body
    assert other_caisse.name in body and other_caisse.autre_canal in body
    assert anonymous.get("/tickets").status_code == 503
    assert anonymous.get("/nimporte-quoi").status_code == 503
    # htmx requests are told to reload the whole page (htmx does not swap a 503).
    assert anonymous.get("/", headers={"HX-Request": "true"}).headers.get("HX-Refresh") == "true"
    # Static files still load, and the login page too (admin_national must get in).
    assert anonymous.get("/static/css/app.css").status_code == 200
    login_page = anonymous.get("/connexion")
    assert login_page.status_code == 200 and "Maintenance en cours" in login_page.get_data(as_text=True)

    # A partner user logging in lands on the maintenance page.
    tech = app.test_client()
    login(world.technicien, c=tech)
    assert tech.get("/").status_code == 503
    assert tech.get("/actualites").status_code == 503
    admin = app.test_client()
    login(world.admin, c=admin)
    assert admin.get("/caisse/partenaires").status_code == 503

    # admin_national keeps the portal and can end the window.
    national = app.test_client()
    login(world.national, c=national)
    assert national.get("/national/caisses").status_code == 200
    page = national.get("/national/maintenance")
    assert page.status_code == 200 and "Terminer maintenant" in page.get_data(as_text=True)

    # After (the end passes): everything is back, no banner, without any restart.
    clock.advance(hours=2)
    tech = login(world.technicien, c=app.test_client())  # the 30-minute idle limit ended the old sessions
    resp = tech.get("/")
    assert resp.status_code == 200
    assert "maintenance-banner" not in resp.get_data(as_text=True)
    assert login(world.admin, c=app.test_client()).get("/caisse/partenaires").status_code == 200


def test_national_ends_a_running_window(app, world, clock, login):
    at = clock.now()
    w = maintenance.schedule(world.national, at + timedelta(minutes=5), at + timedelta(hours=3))
    commit()
    clock.advance(minutes=10)
    anonymous = app.test_client()
    assert anonymous.get("/").status_code == 503
    national = login(world.national)
    resp = national.post(f"/national/maintenance/{w.id}/terminer", data={"confirmed": "1"})
    assert resp.status_code == 303
    assert anonymous.get("/").status_code == 302  # back to normal: the login redirect
    db.session.refresh(w)
    assert w.ends_at == clock.now()


def test_cancelled_window_shows_nothing(app, world, clock, login):
    at = clock.now()
    w = maintenance.schedule(world.national, at + timedelta(days=1), at + timedelta(days=1, hours=1))
    commit()
    national = login(world.national)
    assert "maintenance-banner" in national.get("/national/caisses").get_data(as_text=True)
    assert national.post(f"/national/maintenance/{w.id}/annuler", data={"confirmed": "1"}).status_code == 303
    assert "maintenance-banner" not in national.get("/national/caisses").get_data(as_text=True)
    clock.advance(days=1, minutes=30)
    assert app.test_client().get("/").status_code == 302


def test_schedule_form_errors_keep_input(app, world, clock, login):
    national = login(world.national)
    at = clock.now()
    resp = national.post("/national/maintenance", data={"starts_at": _local(at + timedelta(hours=5)),
                                                        "ends_at": _local(at + timedelta(hours=4)),
                                                        "message": "Texte gardé"})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "La fin de la maintenance doit être postérieure à son début." in body
    assert 'aria-describedby="ends_at-error"' in body and "Texte gardé" in body
    resp = national.post("/national/maintenance", data={"starts_at": "demain", "ends_at": "", "message": ""})
    assert resp.status_code == 422
    assert "Date et heure invalides" in resp.get_data(as_text=True)


@pytest.mark.parametrize("profile", ["technicien", "gestionnaire", "agent", "admin"])
def test_only_national_manages_maintenance(app, world, clock, login, profile):
    w = maintenance.schedule(world.national, clock.now() + timedelta(days=1), clock.now() + timedelta(days=1, hours=1))
    commit()
    c = login(getattr(world, profile))
    assert c.get("/national/maintenance").status_code == 403
    assert c.post("/national/maintenance", data={}).status_code == 403
    assert c.post(f"/national/maintenance/{w.id}/annuler", data={"confirmed": "1"}).status_code == 403
    assert db.session.get(MaintenanceWindow, w.id).cancelled_at is None


def test_a_refused_action_shows_the_domains_message(app, world, clock, login):
    at = clock.now()
    later = maintenance.schedule(world.national, at + timedelta(days=1), at + timedelta(days=1, hours=1))
    commit()
    national = login(world.national)
    resp = national.post(f"/national/maintenance/{later.id}/terminer", data={"confirmed": "1"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Cette maintenance n&#39;a pas commencé : annulez-la plutôt." in page and 'id="flash"' in page
    assert national.post(f"/national/maintenance/{later.id}/annuler", data={"confirmed": "1"}).status_code == 303
    resp = national.post(f"/national/maintenance/{later.id}/annuler", data={"confirmed": "1"})
    assert resp.status_code == 422 and "Cette maintenance est déjà annulée." in resp.get_data(as_text=True)
    assert national.post("/national/maintenance/999999/annuler", data={"confirmed": "1"}).status_code == 404
