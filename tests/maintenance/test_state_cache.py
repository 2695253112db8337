"""The maintenance state kept by each process (ep_web.domain.site_state): the
windows are read again only when their token changed, and the token changes
with any change of the windows — through the domain, or any other writer (a
second server, a script), because database triggers rewrite it (migration 0011)."""
from datetime import timedelta

from sqlalchemy import delete, event, insert, select, update

from ep_web.domain import maintenance, site_state
from ep_web.extensions import db
from ep_web.models import AppState, MaintenanceWindow


def _token():
    return db.session.scalar(select(AppState.maintenance_token).where(AppState.id == 1))


def _window_reads(client, path="/connexion") -> int:
    seen = []

    def record(conn, cursor, statement, *args):
        if "FROM maintenance_window" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return len(seen)


def test_every_change_of_the_windows_rewrites_the_token(app, make, clock):
    national = make.admin_national()
    before = _token()
    assert before
    at = clock.now()
    window = maintenance.schedule(national, at + timedelta(days=1), at + timedelta(days=1, hours=2))
    after_insert = _token()
    assert after_insert != before
    db.session.execute(update(MaintenanceWindow).where(MaintenanceWindow.id == window.id)
                       .values(message="Nouveau message"))
    after_update = _token()
    assert after_update != after_insert
    db.session.execute(delete(MaintenanceWindow))
    assert _token() != after_update


def test_the_windows_are_read_once_then_only_when_they_change(app, make, clock, login):
    site_state.forget()
    client = app.test_client()
    assert _window_reads(client) == 1
    assert _window_reads(client) == 0  # same token: the process's copy
    user = make.world().technicien
    tech = app.test_client()
    login(user, c=tech)
    assert tech.get("/").status_code == 200
    # A window written behind the domain's back (another server, SQL): the trigger changes the token.
    at = clock.now()
    national = make.admin_national()
    db.session.execute(insert(MaintenanceWindow).values(starts_at=at - timedelta(minutes=5),
                                                        ends_at=at + timedelta(hours=1), message="",
                                                        created_by_id=national.id, created_at=at))
    assert _window_reads(client) == 1
    assert tech.get("/").status_code == 503


def test_a_window_ended_early_lifts_the_page_at_the_next_request(app, make, clock, login):
    site_state.forget()
    w = make.world()
    at = clock.now()
    window = maintenance.schedule(w.national, at + timedelta(minutes=1), at + timedelta(hours=3))
    clock.advance(minutes=2)
    tech = app.test_client()
    login(w.technicien, c=tech)  # the login page stays open during a window
    assert tech.get("/").status_code == 503
    assert tech.get("/").status_code == 503  # from the copy
    maintenance.end_now(w.national, window)
    assert tech.get("/").status_code == 200


def test_the_copy_follows_the_clock_between_changes(app, make, clock):
    """No change of the windows, but time passes: the window starts, then ends
    (the login page, open to all, shows the banner of each moment)."""
    site_state.forget()
    w = make.world()
    at = clock.now()
    maintenance.schedule(w.national, at + timedelta(hours=1), at + timedelta(hours=2))
    anonymous = app.test_client()
    before = anonymous.get("/connexion").get_data(as_text=True)
    assert 'data-testid="maintenance-banner"' in before and "Maintenance en cours" not in before
    clock.advance(hours=1, minutes=1)
    assert "Maintenance en cours" in anonymous.get("/connexion").get_data(as_text=True)
    clock.advance(hours=1)
    assert 'data-testid="maintenance-banner"' not in anonymous.get("/connexion").get_data(as_text=True)
