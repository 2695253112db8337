"""The audit-log search (SPEC §7): filters, pagination, Paris time, and a caisse
never seeing another caisse's events (SPEC §8)."""
import re

import pytest
from flask_login import login_user
from sqlalchemy import select

from ep_web.audit_search import audit_page
from ep_web.domain import audit
from ep_web.domain.audit import AuditFilters, search_events
from ep_web.extensions import db
from ep_web.models import AuditEvent

IDS = re.compile(r'data-event-id="(\d+)"')


def ids(body: str) -> list[int]:
    return [int(i) for i in IDS.findall(body)]


def record(action, actor=None, **kw):
    ev = audit.record(action, actor, **kw)
    db.session.commit()
    return ev


@pytest.fixture
def events(make, clock):
    """Events spread over three days, for two caisses and their partners."""
    w = make.world()
    shared = make.partenaire(w.caisse)
    make.convention(shared, w.other_caisse)
    e = {}
    e["a_login"] = record("login", w.admin, target=w.admin, ip="10.0.0.1")  # 2026-03-02 10:00 Paris
    clock.advance(days=1)
    e["a_partner"] = record("account_created", w.gestionnaire, target=w.technicien)  # partner of caisse A
    e["b_login"] = record("login", w.other_admin, target=w.other_admin, ip="10.0.0.2")
    e["b_partner"] = record("account_created", w.other_gestionnaire, target=w.other_technicien)
    clock.advance(days=1)
    e["shared_by_a"] = record("partenaire_changed", w.admin, target=shared, caisse_id=w.caisse.id,
                              partenaire_id=shared.id)
    e["shared_by_b"] = record("partenaire_changed", w.other_admin, target=shared, caisse_id=w.other_caisse.id,
                              partenaire_id=shared.id)
    e["shared_own"] = record("login", None, partenaire_id=shared.id, actor_login="TSHARED1")
    e["failed"] = record("login_failed", None, actor_login="INCONNU", ip="10.0.0.3")
    w.events = {k: v.id for k, v in e.items()}
    w.shared = shared
    return w


def test_national_sees_every_event_newest_first_in_paris_time(client, login, events):
    login(events.national)
    resp = client.get("/national/journal")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    found = ids(body)
    assert set(events.events.values()) <= set(found)
    assert found == sorted(found, reverse=True)
    # 09:00 UTC on 2 March is 10:00 in Paris.
    assert "02/03/2026 10:00:00" in body
    assert "Connexion" in body and "account#" not in body and "10.0.0.1" in body
    assert events.caisse.name in body


def test_filters(client, login, events):
    login(events.national)
    e = events.events

    def search(**params):
        return ids(client.get("/national/journal", query_string=params).get_data(as_text=True))

    national_logins = set(db.session.scalars(
        select(AuditEvent.id).where(AuditEvent.action == "login", AuditEvent.actor_id == events.national.id)))
    assert national_logins  # the test client's own login
    assert set(search(evenement="login")) == {e["a_login"], e["b_login"], e["shared_own"]} | national_logins
    assert search(evenement="login_failed") == [e["failed"]]
    # Login contains, case-insensitive.
    assert search(auteur="shared") == [e["shared_own"]]
    assert set(search(auteur=events.admin.login.lower())) == {e["a_login"], e["shared_by_a"]}
    # Dates are Paris days; the bounds are included.
    assert set(search(du="2026-03-03", au="2026-03-03")) == {e["a_partner"], e["b_login"], e["b_partner"]}
    assert search(au="02/03/2026") == [e["a_login"]]
    assert e["a_login"] not in search(du="2026-03-03")
    assert set(search(partenaire=str(events.shared.id))) == {e["shared_by_a"], e["shared_by_b"], e["shared_own"]}
    # One caisse, as that caisse sees it.
    assert set(search(caisse=str(events.other_caisse.id))) == {e["b_login"], e["b_partner"], e["shared_by_b"],
                                                                e["shared_own"]}
    assert search(evenement="login", partenaire=str(events.partenaire.id)) == []


def test_bad_filters_are_explained_and_not_applied(client, login, events):
    login(events.national)
    resp = client.get("/national/journal", query_string={"du": "31/02/2026", "partenaire": "abc", "evenement": "zzz"})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "Date invalide" in body and "Indiquez le numéro du partenaire" in body and "Action inconnue" in body
    assert set(events.events.values()) <= set(ids(body))
    # Odd values never break the page.
    for odd in ({"au": "9999-12-31"}, {"partenaire": "²"}, {"page": "²"}, {"caisse": "x"}, {"du": "0001-01-01"}):
        resp = client.get("/national/journal", query_string=odd)
        assert resp.status_code == 200, odd
    resp = client.get("/national/journal", query_string={"du": "2026-03-04", "au": "2026-03-02"})
    assert "La date de fin doit être égale ou postérieure" in resp.get_data(as_text=True)


def test_htmx_gets_the_results_fragment_only(client, login, events):
    login(events.national)
    resp = client.get("/national/journal", query_string={"evenement": "login_failed"}, headers={"HX-Request": "true"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in body and "<form" not in body
    assert ids(body) == [events.events["failed"]]
    assert "HX-Request" in resp.headers["Vary"]
    page = client.get("/national/journal").get_data(as_text=True)
    assert 'hx-target="#audit-results"' in page and 'id="audit-results"' in page and 'hx-push-url="true"' in page


def test_pagination_50_per_page_keeps_the_filters(client, login, make, clock):
    national = make.admin_national()
    for i in range(120):
        audit.record("login_failed", None, actor_login=f"X{i:03d}")
        clock.advance(seconds=1)
    audit.record("logout", national)
    db.session.commit()
    login(national)
    first = client.get("/national/journal", query_string={"evenement": "login_failed"}).get_data(as_text=True)
    assert len(ids(first)) == 50 and "120 événements" in first and "page 1 sur 3" in first
    assert "X119" in first and "X069" not in first
    assert "evenement=login_failed" in first and "page=2" in first
    last = client.get("/national/journal",
                      query_string={"evenement": "login_failed", "page": "3"}).get_data(as_text=True)
    assert len(ids(last)) == 20 and "X000" in last
    # Past the end: the last page.
    beyond = client.get("/national/journal",
                        query_string={"evenement": "login_failed", "page": "9"}).get_data(as_text=True)
    assert ids(beyond) == ids(last)


def _scoped_page(app, account, caisse_id, path="/caisse/journal", **args):
    with app.test_request_context(path, query_string=args):
        login_user(account)
        resp = audit_page(caisse_id=caisse_id)
        return resp.get_data(as_text=True)


def test_caisse_scope_never_shows_another_caisses_events(app, events):
    e = events.events
    body = _scoped_page(app, events.admin, events.caisse.id)
    assert set(ids(body)) == {e["a_login"], e["a_partner"], e["shared_by_a"], e["shared_own"]}
    assert events.other_caisse.name not in body and "10.0.0.2" not in body and events.other_admin.login not in body
    # Filtering on the other caisse's partner, or choosing a caisse, shows nothing more.
    assert ids(_scoped_page(app, events.admin, events.caisse.id, partenaire=str(events.other_partenaire.id))) == []
    assert set(ids(_scoped_page(app, events.admin, events.caisse.id, caisse=str(events.other_caisse.id)))) == set(
        ids(body))
    other = _scoped_page(app, events.other_admin, events.other_caisse.id)
    assert set(ids(other)) == {e["b_login"], e["b_partner"], e["shared_by_b"], e["shared_own"]}


def test_scoped_links_point_back_to_the_calling_route(app, events):
    body = _scoped_page(app, events.admin, events.caisse.id)
    assert 'action="/caisse/journal"' in body and 'hx-get="/caisse/journal"' in body
    assert 'name="caisse"' not in body  # no caisse filter for a caisse


def test_audit_page_refuses_a_caller_outside_the_scope(app, events):
    from werkzeug.exceptions import Forbidden

    with pytest.raises(Forbidden):
        _scoped_page(app, events.admin, None)
    with pytest.raises(Forbidden):
        _scoped_page(app, events.admin, events.other_caisse.id)
    with pytest.raises(Forbidden):
        _scoped_page(app, events.gestionnaire, events.caisse.id)


def test_search_events_scope_at_domain_level(app, events):
    e = events.events
    scoped = {ev.id for ev in search_events(events.caisse.id, AuditFilters()).events}
    assert scoped == {e["a_login"], e["a_partner"], e["shared_by_a"], e["shared_own"]}
    assert {ev.id for ev in search_events(None, AuditFilters()).events} == set(e.values())
    only_b = AuditFilters(caisse_id=events.other_caisse.id)
    assert {ev.id for ev in search_events(None, only_b).events} == {e["b_login"], e["b_partner"], e["shared_by_b"],
                                                                 e["shared_own"]}


def test_the_journal_names_the_account_and_the_reason_not_a_table_row(app, make, login, client):
    """SPEC §7: an event about an account shows the person (or "compte supprimé")
    and the reason recorded for an inactivation."""
    from ep_web.domain import accounts

    w = make.world()
    tech = make.technicien(w.partenaire, prenom="Odile", nom="Fictive")
    accounts.inactivate(tech, actor=w.admin, reason="Départ de la structure")
    db.session.flush()
    login(w.national)
    html = client.get("/national/journal").get_data(as_text=True)
    assert f"account#{tech.id}" not in html
    assert f"Odile Fictive ({tech.login})" in html and "Motif : Départ de la structure" in html
